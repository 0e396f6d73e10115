"""Shared fixtures: a real stack per test process, the API in-process, real workers."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import docker
import httpx
import pytest
from fastapi import FastAPI

from controlplane.app import create_app
from tests.fixtures import swarm
from tests.fixtures.stack import (
    ADMIN_TOKEN,
    BerthProcess,
    Stack,
    make_current_blueprint,
    start_stack,
    stop_stack,
)

T = TypeVar("T")


@pytest.fixture(scope="session")
def stack(worker_id: str, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The process's stack; `docker` unless parametrised indirectly with a runtime:
    `@pytest.mark.parametrize("stack", ["docker", "swarm"], indirect=True)`."""
    runtime = getattr(request, "param", "docker")
    if runtime == "swarm":
        swarm.join()
    try:
        s = start_stack(worker_id.replace("gw", "w"), runtime=runtime)
        try:
            yield s
        finally:
            stop_stack(s)
    finally:
        if runtime == "swarm":
            swarm.leave()


@pytest.fixture(autouse=True)
def _blueprint_1_is_current(request: pytest.FixtureRequest) -> None:
    """Each test on a stack starts with blueprint 1 current.

    Tests share their xdist worker's stack, and a rollout's canary promotes its version
    for new signups: without this, what a test's signups run would depend on which
    rollout test happened to run before it.
    """
    if "stack" in request.fixturenames:
        stack: Stack = request.getfixturevalue("stack")
        url = stack.settings.require_database_url()
        # In a thread of its own: this thread's event loop belongs to pytest-asyncio.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, make_current_blueprint(url, "1")).result()


@pytest.fixture(scope="session")
async def app(stack: Stack) -> AsyncIterator[FastAPI]:
    application = create_app(stack.settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://berth.test",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=30,
    ) as c:
        yield c


@pytest.fixture(scope="session")
async def anon(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://berth.test") as c:
        yield c


@pytest.fixture(scope="session")
def worker(stack: Stack) -> BerthProcess:
    """The stack's long-lived Celery worker (a real process)."""
    return stack.start_worker()


@pytest.fixture
def live_worker(stack: Stack, worker: BerthProcess) -> BerthProcess:
    """A running worker, restarted if an earlier test killed it."""
    if not worker.alive:
        worker.start()
    return worker


@pytest.fixture(scope="session")
def _watcher(stack: Stack) -> BerthProcess:
    return stack.start_watcher()


@pytest.fixture
def watcher(_watcher: BerthProcess) -> BerthProcess:
    """A running events watcher (a real process)."""
    if not _watcher.alive:
        _watcher.start()
    return _watcher


def _stopped_during_test(stack: Stack, kind: str = "") -> Iterator[None]:
    """Stop the stack's running processes whose name starts with `kind` (all of them
    when empty) for the test, and start them again after it."""
    running = [p for p in stack.workers if p.name.startswith(kind) and p.alive]
    for p in running:
        p.stop()
    yield
    for p in running:
        p.start()


@pytest.fixture
def no_watcher(stack: Stack) -> Iterator[None]:
    """No events watcher runs during the test: only the reconciler can notice faults."""
    yield from _stopped_during_test(stack, "watcher")


@pytest.fixture
def no_beat(stack: Stack) -> Iterator[None]:
    """No beat runs during the test: no sweep but the test's own."""
    yield from _stopped_during_test(stack, "beat")


@pytest.fixture
def quiet(stack: Stack) -> Iterator[None]:
    """No worker, beat or watcher runs during the test: only the test writes."""
    yield from _stopped_during_test(stack)


@pytest.fixture(scope="session")
def _beat(stack: Stack) -> BerthProcess:
    return stack.start_beat()


@pytest.fixture
def beat(_beat: BerthProcess) -> BerthProcess:
    """A running celery beat: the reconciler sweeps every reconcile_interval."""
    if not _beat.alive:
        _beat.start()
    return _beat


@pytest.fixture(scope="session")
def api_server(stack: Stack) -> str:
    """A real uvicorn process serving the API; its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    stack.start_api(port)
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def dock() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture
def slug() -> str:
    return "t" + uuid.uuid4().hex[:10]


async def wait_until(
    check: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    """Poll `check` until it returns something truthy; fail with `what` on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


async def wait_state(
    client: httpx.AsyncClient, slug: str, state: str, timeout: float = 90.0
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        r = await client.get(f"/tenants/{slug}")
        body: dict[str, Any] = r.json()
        return body if r.status_code == 200 and body["state"] == state else None

    return await wait_until(check, timeout=timeout, what=f"{slug} to be {state}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    stack: Stack | None = getattr(item, "funcargs", {}).get("stack")
    if stack is None:
        return
    # A failing Docker test shows the state and logs of the containers it made.
    try:
        client = docker.from_env()
        lines = []
        for c in client.containers.list(
            all=True, filters={"label": f"berth.instance={stack.instance}"}, ignore_removed=True
        ):
            state = c.attrs.get("State", {})
            lines.append(
                f"--- {c.name} {state.get('Status')} exit={state.get('ExitCode')} "
                f"oom={state.get('OOMKilled')} restarts={c.attrs.get('RestartCount')}"
            )
            lines.append(c.logs(tail=30).decode(errors="replace"))
        lines.append("--- worker logs (tail)")
        lines.append(stack.logs()[-int(os.environ.get("BERTH_TEST_LOG_TAIL", "4000")) :])
        report.sections.append(("berth containers", "\n".join(lines)))
        client.close()
    except Exception as exc:  # noqa: BLE001 - diagnostics must not mask the failure
        report.sections.append(("berth containers", f"could not collect: {exc}"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`BERTH_TEST_SWARM=0` leaves out every Swarm variant (a quicker local run; CI and
    `make test` run them all)."""
    if os.environ.get("BERTH_TEST_SWARM", "1") != "0":
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        swarm = callspec is not None and callspec.params.get("stack") == "swarm"
        (drop if swarm else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
