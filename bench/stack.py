"""A real Berth for benchmarks: the test stack (embedded PostgreSQL + Redis, migrated,
blueprints registered), the API as a real uvicorn process and real Celery workers.

Everything is torn down on exit, including on failure and KeyboardInterrupt:
`stop_stack` removes every Docker object carrying the stack's berth.instance label.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self

import docker
import docker.utils
import httpx

from controlplane.supervisor import process_commands
from tests.fixtures.stack import (
    ADMIN_TOKEN,
    ROOT,
    Stack,
    make_template,
    start_stack,
    stop_stack,
)

# The events stream is idle between provisions; a read timeout would end it.
EVENTS_READ_TIMEOUT = 24 * 3600

# Where a failed stack's logs are copied before its data dir is removed.
LOG_DIR = Path(os.environ.get("BERTH_BENCH_LOG_DIR", "/tmp/berth-bench-logs"))

# Every berth.instance label this process made Docker objects under (stacks and raw
# baselines): `python -m bench` removes whatever is still labelled with one of them
# after each benchmark, whatever happened, and touches nothing else.
INSTANCES: list[str] = []


def track(instance: str) -> str:
    """Record an instance label for the harness's clean-up; returns it."""
    if instance not in INSTANCES:
        INSTANCES.append(instance)
    return instance


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WorkerProcess(Protocol):
    """What the benchmarks need of the test stack's worker process object."""

    log_path: Path


@dataclass
class BenchStack:
    stack: Stack
    base_url: str
    client: httpx.Client
    workers: list[WorkerProcess]
    api_log: str
    api_pid: int = 0

    @property
    def instance(self) -> str:
        return self.stack.instance


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(15)
    except ProcessLookupError:
        pass


def _wait_api(proc: subprocess.Popen[bytes], url: str, log: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited with {proc.returncode}; see {log}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the API did not answer /healthz within {timeout:g}s; see {log}")


_TEMPLATE: list[Path] = []


def _template() -> Path:
    """This process's PostgreSQL template (made once, removed at exit): every stack
    after the first starts from a copy instead of initdb + migrations."""
    if not _TEMPLATE:
        base = Path(tempfile.mkdtemp(prefix="btpgtpl-", dir="/tmp"))
        atexit.register(shutil.rmtree, base, ignore_errors=True)
        _TEMPLATE.append(make_template(base))
    return _TEMPLATE[0]


def _keep_logs(stack: Stack) -> None:
    """Copy the failed stack's logs (API, workers, PostgreSQL, Redis) out of its data
    dir, which stop_stack removes, so a failure can be diagnosed afterwards."""
    dest = LOG_DIR / stack.instance
    try:
        dest.mkdir(parents=True, exist_ok=True)
        for src in [*stack.base.glob("*.log"), stack.base / "pg" / "log"]:
            if src.is_file():
                name = "postgres.log" if src.name == "log" else src.name
                shutil.copyfile(src, dest / name)
        redis_log = stack.base / "redis" / "redis.log"
        if redis_log.is_file():
            shutil.copyfile(redis_log, dest / "redis.log")
    except OSError as exc:
        print(f"  could not keep the stack's logs: {exc}", flush=True)
        return
    print(f"  {stack.instance} failed; its logs are kept in {dest}", flush=True)
    # If PostgreSQL went away under the benchmark, its log says how: a shutdown
    # request names the signal (smart = SIGTERM, fast = SIGINT, immediate = SIGQUIT or
    # an invalid lock file); a log that just stops means SIGKILL (e.g. the OOM killer).
    log_text = (
        (dest / "postgres.log").read_text(errors="replace")
        if (dest / "postgres.log").exists()
        else ""
    )
    if not _postgres_ready(stack.base / "pg") or "shutdown request" in log_text:
        print("  its PostgreSQL is not running; the PostgreSQL log ends:", flush=True)
        for line in log_text.splitlines()[-6:]:
            print(f"    {line}", flush=True)


def _postgres_ready(pgdata: Path) -> bool:
    """The postmaster in pgdata's lock file is alive and says `ready` (not `stopping`)."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
        # A SIGKILLed postmaster may linger as a zombie until reaped.
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
        return len(lines) > 7 and lines[7].strip() == "ready"
    except (OSError, ValueError, IndexError):
        return False


@contextmanager
def berth_stack(tag: str, *, workers: int = 1, concurrency: int = 8) -> Iterator[BenchStack]:
    """A running Berth (API process + `workers` Celery workers) on a fresh stack."""
    stack = start_stack(tag, template=_template())
    track(stack.instance)
    api: subprocess.Popen[bytes] | None = None
    client: httpx.Client | None = None
    try:
        port = free_port()
        settings = stack.settings.model_copy(update={"api_port": port})
        log_path = stack.base / "api.log"
        with log_path.open("ab") as log:
            api = subprocess.Popen(
                process_commands(settings)["api"],
                env=stack.env(BERTH_API_PORT=str(port)),
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        base_url = f"http://{settings.api_host}:{port}"
        # The workers boot (seconds of imports) while the API does: waiting for the
        # API first made every stack start take the sum of both.
        started: list[WorkerProcess] = [
            stack.start_worker(concurrency=concurrency) for _ in range(workers)
        ]
        _wait_api(api, base_url, str(log_path))
        client = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            # Above the longest long-poll the benchmarks ask for (wait_for, 60 s): a
            # read timeout equal to the poll's own lost the answer on a loaded host.
            timeout=httpx.Timeout(90, connect=10),
        )
        yield BenchStack(
            stack=stack,
            base_url=base_url,
            client=client,
            workers=started,
            api_log=str(log_path),
            api_pid=api.pid,
        )
    except BaseException:
        _keep_logs(stack)
        raise
    finally:
        if client is not None:
            client.close()
        if api is not None:
            _stop_process(api)
        stop_stack(stack)


class EngineEventStream:
    """Read one instance's container events on a thread; subclasses keep what they need.

    Engine clocks and time.time() are the same host clock, so phases can be measured
    against wall-clock marks taken by the benchmark.
    """

    thread_name = "bench-events"

    def __init__(self, instance: str) -> None:
        self.instance = instance
        self._lock = threading.Lock()
        self._api: docker.APIClient | None = None
        self._stream: Any = None
        self._thread: threading.Thread | None = None

    def record(self, event: dict[str, Any]) -> None:
        """Keep one event; called with the lock held."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._api = docker.APIClient(
            version="auto", timeout=EVENTS_READ_TIMEOUT, **docker.utils.kwargs_from_env()
        )
        self._stream = self._api.events(
            filters={"type": ["container"], "label": [f"berth.instance={self.instance}"]},
            decode=True,
        )
        self._thread = threading.Thread(target=self._read, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        try:
            for event in self._stream:
                with self._lock:
                    self.record(event)
        except Exception:  # noqa: BLE001 - the stream ends when it is closed
            return

    def __exit__(self, *exc: object) -> None:
        if self._stream is not None:
            try:
                self._stream.close()
            except Exception:  # noqa: BLE001 - closing a dead stream
                pass
        if self._thread is not None:
            self._thread.join(2)
        if self._api is not None:
            self._api.close()


def event_fields(event: dict[str, Any]) -> tuple[str | None, str | None, float | None]:
    """(container name, action, engine time in seconds) of a raw engine event."""
    name = (event.get("Actor") or {}).get("Attributes", {}).get("name")
    action = event.get("Action") or event.get("status")
    nano = event.get("timeNano")
    return (
        str(name) if name else None,
        str(action) if action else None,
        int(nano) / 1e9 if nano else None,
    )


class DockerEvents(EngineEventStream):
    """Engine time of the first of each action (create, start, ...) per container."""

    def __init__(self, instance: str) -> None:
        super().__init__(instance)
        self.times: dict[str, dict[str, float]] = defaultdict(dict)

    def record(self, event: dict[str, Any]) -> None:
        name, action, at = event_fields(event)
        if name and action and at:
            self.times[name].setdefault(action, at)

    def at(self, container: str, action: str, wait: float = 2.0) -> float | None:
        """Wall-clock time of `action` on `container`, waiting briefly for the event."""
        deadline = time.monotonic() + wait
        while True:
            value = self.times.get(container, {}).get(action)
            if value is not None or time.monotonic() >= deadline:
                return value
            time.sleep(0.01)
