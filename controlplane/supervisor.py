"""`berth run`: embedded deps, migrations, then API, worker, beat and watcher in one foreground.

Ctrl-C (or SIGTERM) stops Berth's own processes cleanly. Tenant containers are not
Berth's processes: they keep running, and the next start adopts them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from rich.console import Console

from controlplane.bootstrap import ensure_default_blueprint
from controlplane.embedded import EmbeddedPostgres, EmbeddedRedis, short_data_dir
from controlplane.migrate import upgrade
from controlplane.settings import Settings
from provisioner.runtime.engine import NoEngine, detect

console = Console(stderr=True)


def process_commands(settings: Settings) -> dict[str, list[str]]:
    """The long-running processes, as argv lists (also used by the test harness)."""
    py = sys.executable
    celery = [py, "-m", "celery", "-A", "provisioner.tasks"]
    return {
        "api": [
            py,
            "-m",
            "uvicorn",
            "controlplane.asgi:app",
            "--host",
            settings.api_host,
            "--port",
            str(settings.api_port),
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "5",
        ],
        "worker": [
            *celery,
            "worker",
            "-P",
            "threads",
            "-c",
            str(settings.worker_concurrency),
            "-Q",
            "berth",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"berth-{settings.instance}@%h",
            "--loglevel",
            "INFO",
        ],
        "watcher": [py, "-m", "provisioner.watcher"],
        "beat": [
            *celery,
            "beat",
            "--schedule",
            str(settings.data_dir / "celerybeat-schedule"),
            "--loglevel",
            "INFO",
        ],
    }


@dataclass
class Supervisor:
    settings: Settings
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    stopping: bool = False
    commands: dict[str, list[str]] = field(default_factory=dict)
    child_env: dict[str, str] = field(default_factory=dict)
    started_at: dict[str, float] = field(default_factory=dict)
    crashes: dict[str, list[float]] = field(default_factory=dict)

    def prepare(self) -> dict[str, str]:
        """Start embedded servers if needed, migrate, bootstrap. Returns env for children."""
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        env: dict[str, str] = {"BERTH_DATA_DIR": str(s.data_dir)}
        db_url, redis_url = s.database_url, s.redis_url
        if not db_url:
            short_data_dir(s.data_dir)
            self.postgres = EmbeddedPostgres(s.data_dir)
            db_url = self.postgres.start()
            console.print(f"[green]embedded PostgreSQL[/] at {self.postgres.pgdata}")
        if not redis_url:
            self.redis = EmbeddedRedis(s.data_dir)
            redis_url = self.redis.start()
            console.print(f"[green]embedded Redis[/] on 127.0.0.1:{self.redis.port}")
        env["BERTH_DATABASE_URL"] = db_url
        env["BERTH_REDIS_URL"] = redis_url
        upgrade(db_url)
        console.print("[green]migrations applied[/]")
        if asyncio.run(ensure_default_blueprint(db_url)):
            console.print("registered blueprint [bold]1[/] (berth-sample:1)")
        return env

    def start(self, env: dict[str, str]) -> None:
        child_env = dict(os.environ)
        child_env.update(env)
        self.child_env = child_env
        s = self.settings.model_copy(
            update={
                "database_url": env["BERTH_DATABASE_URL"],
                "redis_url": env["BERTH_REDIS_URL"],
            }
        )
        self.commands = process_commands(s)
        for name in self.commands:
            self._spawn(name)
        token_where = (
            "BERTH_ADMIN_TOKEN"
            if self.settings.admin_token
            else str(self.settings.data_dir / "admin.token")
        )
        url = f"http://{self.settings.api_host}:{self.settings.api_port}"
        console.print(
            f"\n[bold]Berth is up[/]\n  API:   {url}\n  Docs:  {url}/docs\n"
            f"  Token: {token_where}\n  Stop:  Ctrl-C (tenant containers keep running)\n"
        )

    def _spawn(self, name: str) -> None:
        # Own session: Ctrl-C reaches only the supervisor, which stops children in order.
        self.procs[name] = subprocess.Popen(
            self.commands[name], env=self.child_env, start_new_session=True
        )
        self.started_at[name] = time.monotonic()

    def stop(self, timeout: float = 15.0) -> None:
        self.stopping = True
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            remaining = max(0.1, deadline - time.monotonic())
            try:
                proc.wait(remaining)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.redis:
            self.redis.stop()
        if self.postgres:
            self.postgres.stop()

    def _restart_crashed(self) -> None:
        """Restart a child that died, like a service manager would; give up on a loop."""
        now = time.monotonic()
        for name, proc in list(self.procs.items()):
            if proc.poll() is None:
                continue
            recent = [t for t in self.crashes.get(name, []) if now - t < 60] + [now]
            self.crashes[name] = recent
            if len(recent) > 5:
                raise ChildCrashLoop(f"{name} exited {len(recent)} times within a minute")
            console.print(f"[yellow]{name} exited with {proc.returncode}; restarting[/]")
            time.sleep(min(2 ** (len(recent) - 1), 10))
            self._spawn(name)

    def watch(self) -> int:
        """Block until a signal; restart children that die; then stop everything."""

        def on_signal(signum: int, _frame: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_signal)
        code = 0
        try:
            while True:
                self._restart_crashed()
                time.sleep(0.5)
        except ChildCrashLoop as exc:
            console.print(f"[red]{exc}; stopping[/]")
            code = 1
        except KeyboardInterrupt:
            console.print("stopping Berth (tenant containers keep running)…")
        finally:
            self.stop()
        return code


class ChildCrashLoop(RuntimeError):
    """A Berth process keeps dying; better to stop loudly than to flap."""


def check_engine() -> dict[str, str] | None:
    """Find the container engine (Docker, then Podman) before starting anything.

    Returns env for the children (DOCKER_HOST pinned to what was found, so every
    process uses the same engine), or None after printing how to start one.
    """
    try:
        engine = detect()
    except NoEngine as exc:
        console.print(f"[red]error:[/] {exc}")
        return None
    runtimes = ", ".join(engine.runtimes) or "none reported"
    console.print(
        f"[green]{engine.name} {engine.version}[/] at {engine.base_url} "
        f"({engine.source}; runtimes: {runtimes})"
    )
    return {"DOCKER_HOST": os.environ.get("DOCKER_HOST") or engine.base_url}


def run(settings: Settings) -> int:
    engine_env = check_engine()
    if engine_env is None:
        return 1
    sup = Supervisor(settings)
    try:
        env = {**sup.prepare(), **engine_env}
        sup.start(env)
    except BaseException:
        sup.stop()
        raise
    return sup.watch()
