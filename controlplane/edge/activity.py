"""Edge activity: when each tenant last served a request, kept cheap on the hot path.

The gate only writes a dict entry; a background task flushes the dict to one Redis
hash once a second. The idle sweep reads the hash. An API crash loses at most a
second of activity, which can only make a pause a second early on a tenant that was
about to be paused anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from redis import Redis
from redis.exceptions import RedisError

ACTIVITY_KEY = "berth:activity"
FLUSH_SECONDS = 1.0

log = structlog.get_logger(__name__)


class ActivityRecorder:
    """Per-process buffer of tenant id -> last request time (epoch seconds)."""

    def __init__(self, redis: Redis[bytes]) -> None:
        self.redis = redis
        self._seen: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    def touch(self, tenant_id: str) -> None:
        self._seen[tenant_id] = time.time()

    def flush(self) -> int:
        """Write buffered activity to Redis; on failure keep it for the next try."""
        if not self._seen:
            return 0
        batch, self._seen = self._seen, {}
        try:
            self.redis.hset(ACTIVITY_KEY, mapping={k: repr(v) for k, v in batch.items()})
        except RedisError as exc:
            for tid, at in batch.items():
                self._seen[tid] = max(at, self._seen.get(tid, 0.0))
            log.warning("activity_flush_failed", error_type=type(exc).__name__)
            return 0
        return len(batch)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await asyncio.to_thread(self.flush)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self.flush)


def read_activity(redis: Redis[bytes]) -> dict[str, float]:
    """Last edge request per tenant id, as flushed by every API process."""
    raw = redis.hgetall(ACTIVITY_KEY)
    return {k.decode(): float(v) for k, v in raw.items()}


def mark_active(redis: Redis[bytes], tenant_ids: list[str], at: float) -> None:
    """Record non-HTTP activity (CPU, network) found by the idle sweep."""
    if tenant_ids:
        redis.hset(ACTIVITY_KEY, mapping={tid: repr(at) for tid in tenant_ids})
