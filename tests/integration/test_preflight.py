"""The security preflight against the real engine: Berth's tenants pass, a rogue fails.

The rogue container carries the stack's berth.instance label (so cleanup finds it)
and no tenant id. The reconciler would remove it as an orphan, so these tests stop
celery beat first and wait until no sweep is queued or running.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import docker
import httpx
import pytest
from docker.models.containers import Container

from controlplane.db import make_engine
from controlplane.migrate import upgrade
from controlplane.preflight import service
from controlplane.supervisor import process_commands
from provisioner.runtime.docker import DockerBackend
from tests.conftest import wait_state, wait_until
from tests.fixtures.stack import ADMIN_TOKEN, ROOT, BerthProcess, Stack

pytestmark = pytest.mark.docker

# Every check the hand-made container breaks, and the one it only warns on.
ROGUE_FAILS = {
    "privileged",
    "capabilities",
    "no_new_privileges",
    "user",
    "read_only_root",
    "memory",
    "cpu",
    "pids",
    "restart_policy",
    "host_namespaces",
    "devices",
    "docker_socket",
    "seccomp",
    "network",
}
ROGUE_WARNS = {"healthcheck"}


def _sweeps_pending(stack: Stack) -> int:
    """Reconcile tasks queued or being run (kombu's Redis layout: list + unacked hash)."""
    import redis

    r = redis.Redis.from_url(stack.redis.url)
    try:
        queued = [json.loads(m) for m in r.lrange("berth", 0, -1)]
        unacked = [json.loads(m)[0] for m in r.hvals("unacked")]
    finally:
        r.close()
    return sum(1 for m in queued + unacked if m.get("headers", {}).get("task") == "berth.reconcile")


@pytest.fixture
async def no_beat(stack: Stack) -> AsyncIterator[None]:
    """No reconciler sweep runs during the test (it would remove the rogue container)."""
    running = [p for p in stack.workers if p.name.startswith("beat") and p.alive]
    for p in running:
        p.stop()
    if running and any(p.alive and p.name.startswith("worker") for p in stack.workers):
        # A sweep beat sent before it stopped may still be queued or running. (With no
        # worker alive, a queued sweep cannot run during the test.)
        async def no_sweep() -> bool:
            return _sweeps_pending(stack) == 0

        await wait_until(no_sweep, timeout=60, what="queued sweeps to finish")
    yield
    for p in running:
        p.start()


@pytest.fixture
def rogue(stack: Stack, dock: docker.DockerClient, no_beat: None, slug: str) -> Iterator[Container]:
    """A container breaking every rule, labelled like Berth's. Created, never started."""
    container = dock.containers.create(
        "berth-sample:1",
        name=f"berth-rogue-{slug}",
        labels={"berth.instance": stack.instance, "berth.managed": "true", "berth.tenant": slug},
        privileged=True,
        user="0",
        cap_add=["NET_ADMIN"],
        pid_mode="host",
        devices=["/dev/null:/dev/rogue-null:rwm"],
        security_opt=["seccomp=unconfined"],
        volumes={"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"}},
        network_mode="bridge",
        restart_policy={"Name": "always"},
        healthcheck={"test": ["NONE"]},
    )
    try:
        yield container
    finally:
        container.remove(force=True)


def _by_id(checks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in checks}


async def test_berth_tenant_passes_every_check(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    assert (await client.post("/tenants", json={"slug": slug})).status_code == 202
    await wait_state(client, slug, "running")

    r = await client.get("/security/preflight")
    assert r.status_code == 200, r.text
    report = r.json()
    mine = [c for c in report["containers"] if c["tenant"] == slug]
    assert len(mine) == 1, mine
    checks = _by_id(mine[0]["checks"])
    failing = {k: v["detail"] for k, v in checks.items() if v["status"] != "pass"}
    assert failing == {}
    assert mine[0]["status"] == "pass"
    assert mine[0]["runtime"] == "runc" == checks["runtime"]["detail"]
    # Every other Berth tenant container on this stack (earlier tests') passes too.
    berths = [
        c
        for c in report["containers"]
        if c["tenant"] and c["name"] in (f"berth-{c['tenant']}", f"berth-{c['tenant']}-b")
    ]
    assert berths and all(c["status"] == "pass" for c in berths), berths
    assert checks["network"]["detail"] == f"on {stack.settings.tenant_network} only"

    berth = _by_id(report["berth"])
    for check in ("secret_key", "admin_token", "migrations", "tenant_network"):
        assert berth[check]["status"] == "pass", berth[check]
    # Daemon advice matches what the engine says about itself.
    info = dock.info()
    live_restore = berth["daemon.live_restore"]["status"]
    assert live_restore == ("pass" if info["LiveRestoreEnabled"] else "warn")
    userns = any(o.startswith("name=userns") for o in info["SecurityOptions"])
    assert berth["daemon.userns_remap"]["status"] == ("pass" if userns else "warn")
    icc = (
        dock.networks.get("bridge")
        .attrs["Options"]
        .get("com.docker.network.bridge.enable_icc", "true")
    )
    assert berth["daemon.icc"]["status"] == ("pass" if icc == "false" else "warn")
    assert all(c["status"] != "fail" for c in report["berth"])

    engine = report["engine"]
    assert engine["version"] == dock.version()["Version"]
    assert set(engine["runtimes"]) == set(info["Runtimes"])
    assert engine["default_runtime"] == info["DefaultRuntime"]
    assert ADMIN_TOKEN not in r.text


async def test_hand_made_container_is_caught(
    client: httpx.AsyncClient, rogue: Container, slug: str
) -> None:
    r = await client.get("/security/preflight")
    assert r.status_code == 200, r.text
    report = r.json()
    found = [c for c in report["containers"] if c["id"] == rogue.id[:12]]
    assert len(found) == 1, [c["name"] for c in report["containers"]]
    entry = found[0]
    assert entry["tenant"] == slug and entry["state"] == "created"
    checks = _by_id(entry["checks"])
    assert {k for k, v in checks.items() if v["status"] == "fail"} == ROGUE_FAILS
    assert {k for k, v in checks.items() if v["status"] == "warn"} == ROGUE_WARNS
    assert entry["status"] == report["status"] == "fail"
    assert "/var/run/docker.sock" in checks["docker_socket"]["detail"]
    assert "pid=host" in checks["host_namespaces"]["detail"]
    assert "NET_ADMIN" in checks["capabilities"]["detail"]
    assert report["summary"]["failed"] >= len(ROGUE_FAILS)


async def test_migrations_behind_head_fail_the_preflight(stack: Stack) -> None:
    # A scratch database on the stack's server, migrated only to the first revision.
    url = stack.settings.require_database_url()
    name = f"preflight_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(host=stack.postgres.socket_dir, user="postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    scratch = url.replace(f"/{stack.postgres.database}?", f"/{name}?")
    engine = make_engine(scratch, pool_size=1, max_overflow=0)
    backend = DockerBackend(network=stack.settings.tenant_network)
    settings = stack.settings.model_copy(update={"database_url": scratch})
    try:
        await asyncio.to_thread(upgrade, scratch, "0001")
        report = await service.run(
            settings=settings, backend=backend, engine=engine, admin_token=ADMIN_TOKEN
        )
        check = next(c for c in report.berth if c.id == "migrations")
        assert (check.status, report.status) == ("fail", "fail"), check
        # Control: the same check passes once the schema is at head.
        await asyncio.to_thread(upgrade, scratch, "head")
        report = await service.run(
            settings=settings, backend=backend, engine=engine, admin_token=ADMIN_TOKEN
        )
        assert next(c for c in report.berth if c.id == "migrations").status == "pass"
    finally:
        backend.api.close()
        await engine.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _api(stack: Stack, **env: str) -> Iterator[str]:
    """A real uvicorn API process on the stack's database; yields its base URL."""
    port = _free_port()
    argv = process_commands(stack.settings.model_copy(update={"api_port": port}))["api"]
    log = (stack.base / f"api-{port}.log").open("wb")
    proc = subprocess.Popen(
        argv, env=stack.env(**env), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (stack.base / f"api-{port}.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the API process did not come up"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


@pytest.fixture
def api_process(stack: Stack) -> Iterator[str]:
    with _api(stack) as url:
        yield url


def _doctor(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
    env.update({"BERTH_URL": url, "BERTH_TOKEN": ADMIN_TOKEN, "COLUMNS": "200"})
    return subprocess.run(
        [sys.executable, "-m", "controlplane.cli", "doctor", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_doctor_prints_the_report_and_fails_on_the_rogue(
    api_process: str, rogue: Container, slug: str
) -> None:
    table = _doctor(api_process)
    assert table.returncode == 1, table.stdout + table.stderr
    assert "Berth security preflight: fail" in table.stdout
    rogue_lines = [line for line in table.stdout.splitlines() if slug in line]
    for check in ROGUE_FAILS:
        assert any(check in line and "fail" in line for line in rogue_lines), check
    assert "engine: " in table.stdout and "runtimes: " in table.stdout

    as_json = _doctor(api_process, "--json")
    assert as_json.returncode == 1, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["status"] == "fail"
    assert any(c["id"] == rogue.id[:12] for c in report["containers"])
    assert ADMIN_TOKEN not in table.stdout + as_json.stdout


def test_doctor_exits_zero_when_nothing_fails(stack: Stack) -> None:
    # A separate instance name: no container of the shared engine is in its scope,
    # so only Berth's posture and the daemon advice (warnings at worst) remain.
    with _api(stack, BERTH_INSTANCE=f"{stack.instance}-empty") as url:
        report = json.loads(_doctor(url, "--json").stdout)
        assert report["containers"] == [] and report["status"] in ("pass", "warn")
        assert _doctor(url).returncode == 0
        strict = _doctor(url, "--strict")
        assert strict.returncode == (1 if report["status"] == "warn" else 0)
