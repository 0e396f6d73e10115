"""A secret's value never appears in API output, logs, or a plain dump of the database.

Runs on both runtimes (on Swarm the tenant's plan pauses by stop: there is no freezer).
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import docker
import httpx
import pgserver
import pytest

from tests.conftest import wait_state, wait_until
from tests.fixtures.backends import BOTH, is_swarm, restarts
from tests.fixtures.stack import BerthProcess, Stack
from tests.fixtures.tenants import tenant_containers

pytestmark = [pytest.mark.docker, BOTH]


def _env(dock: docker.DockerClient, slug: str) -> str:
    # By label: after a blue/green recreate the container may be berth-<slug>-b.
    (c,) = dock.containers.list(filters={"label": f"berth.tenant={slug}"})
    return "\n".join(c.attrs["Config"]["Env"])


def _pg_dump(stack: Stack) -> str:
    pg_dump = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_dump"
    out = subprocess.run(
        [str(pg_dump), "-h", stack.postgres.socket_dir, "-U", "postgres", "--inserts", "berth"],
        check=True,
        capture_output=True,
    )
    return out.stdout.decode(errors="replace")


async def test_secret_values_never_leak(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    watcher: BerthProcess,
    beat: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Signup with secrets, secret change, rollout, OOM, pause, delete: then no log,
    database dump, API response or other tenant's env holds a secret value (nor a
    runtime token: only its hash is stored)."""
    first, second = "S1-" + uuid.uuid4().hex, "S2-" + uuid.uuid4().hex
    a, b = "sa" + uuid.uuid4().hex[:8], "sb" + uuid.uuid4().hex[:8]
    seen: list[str] = []
    tokens: set[str] = set()

    async def call(method: str, url: str, **kw: Any) -> httpx.Response:
        r = await client.request(method, url, **kw)
        seen.append(r.text)
        return r

    last: dict[str, Any] = {}

    async def settled(generation: int, version: str) -> bool:
        body = (await call("GET", f"/tenants/{a}")).json()
        last.update(body)
        return (
            body["state"] == "running"
            and body["generation"] == generation
            and body["blueprint_version"] == version
        )

    body = {"slug": a, "secrets": {"TOKEN": first}, "limits": {"memory_mb": 48}}
    if is_swarm(stack):
        body["plan"] = "free"  # pauses by stop
    assert (await call("POST", "/tenants", json=body)).status_code == 202
    assert (await call("POST", "/tenants", json={"slug": b})).status_code == 202
    await wait_state(client, a, "running")
    await wait_state(client, b, "running")
    # Positive control: the probe can see the value where it belongs.
    assert first in _env(dock, a)
    tokens.add(_runtime_token(dock, a))

    # A secret change recreates the container.
    r = await call("PUT", f"/tenants/{a}/secrets/OTHER", json={"value": second})
    assert r.status_code == 200 and r.json()["name"] == "OTHER"
    try:
        await wait_until(lambda: settled(2, "1"), what="container recreated with the new secret")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen: {last}") from None
    assert second in _env(dock, a)
    tokens.add(_runtime_token(dock, a))

    # A rollout to version 2 (this tenant only).
    r = await call("POST", "/blueprints/2/deploy", json={"selector": {"slugs": [a]}})
    assert r.status_code == 202, r.text
    rollout = r.json()["id"]

    async def rolled() -> bool:
        last["rollout"] = (await call("GET", f"/rollouts/{rollout}")).json()
        assert last["rollout"]["state"] != "halted", last
        return last["rollout"]["state"] == "completed" and await settled(2, "2")

    try:
        await wait_until(rolled, timeout=120, what="the rollout to version 2")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen: {last}") from None
    assert first in _env(dock, a) and second in _env(dock, a)
    tokens.add(_runtime_token(dock, a))

    # An OOM kill (PID 1 allocates until the kernel kills it); Docker restarts it
    # (Swarm replaces the task). Not waiting for "healthy": on a loaded engine
    # health checks can time out.
    (container,) = tenant_containers(dock, a)
    container.exec_run(["kill", "-USR1", "1"])

    async def recovered() -> bool:
        r = await call("GET", f"/incidents?tenant={a}&kind=oom")
        last["oom"] = items = r.json()["items"]
        restarted = len(tenant_containers(dock, a)) == 1 and restarts(dock, stack, a) >= 1
        return any(i["exit_code"] == 137 for i in items) and restarted and await settled(2, "2")

    try:
        await wait_until(recovered, timeout=90, what="the OOM recorded and recovered")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen: {last}") from None

    # Pause and resume.
    assert (await call("POST", f"/tenants/{a}/pause")).status_code == 202
    await wait_state(client, a, "paused")
    assert (await call("POST", f"/tenants/{a}/resume")).status_code == 202
    await wait_state(client, a, "running")

    listed = (await call("GET", f"/tenants/{a}/secrets")).json()
    assert sorted(s["name"] for s in listed) == ["OTHER", "TOKEN"]
    await call("GET", "/tenants")
    await call("GET", f"/tenants/{a}")
    await call("GET", f"/incidents?tenant={a}")
    await call("GET", f"/audit?target=tenant:{a}")
    await call("GET", "/metrics")

    # The other tenant's container never sees them.
    other_env = _env(dock, b)
    assert "BERTH_RUNTIME_TOKEN" in other_env  # control: the probe reads a real env
    dump = _pg_dump(stack)
    assert "tenant_secrets" in dump and "runtime_tokens" in dump  # the dump covers both
    await call("DELETE", f"/tenants/{a}")
    await call("DELETE", f"/tenants/{b}")
    await wait_until(lambda: _gone(client, a), what=f"{a} deleted")
    await wait_until(lambda: _gone(client, b), what=f"{b} deleted")
    logs = stack.logs() + capfd.readouterr().err + capfd.readouterr().out
    assert "tenant_running" in logs  # control: the scan reads Berth's real logs

    for value in (first, second, *tokens):
        assert all(value not in text for text in seen), "secret in an API response"
        assert value not in logs, "secret in a log"
        assert value not in dump, "secret in the database dump"
        assert value not in other_env, "secret in another tenant's env"


def _runtime_token(dock: docker.DockerClient, slug: str) -> str:
    for line in _env(dock, slug).splitlines():
        if line.startswith("BERTH_RUNTIME_TOKEN="):
            return line.split("=", 1)[1]
    raise AssertionError(f"{slug} has no runtime token")


async def _gone(client: httpx.AsyncClient, slug: str) -> bool:
    return (await client.get(f"/tenants/{slug}")).status_code == 404
