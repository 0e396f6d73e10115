"""Redis clients from BERTH_REDIS_URL (unix:// or redis://), with short timeouts."""

from __future__ import annotations

import redis


def redis_client(url: str) -> redis.Redis[bytes]:
    if url.startswith("unix://"):
        return redis.Redis(
            unix_socket_path=url[len("unix://") :], socket_timeout=2, socket_connect_timeout=2
        )
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
