"""Per-container runtime tokens and leak detection, against real tenant containers.

The token is read from the container's own env (where the tenant gets it), used
against the real API, and followed through a recreate (rotated) and a delete
(revoked). The leak scan runs as the real beat task against a container that
prints its secret. Both runtimes: on Swarm a token lives in the service's spec, and
the leak scan reads the service's logs.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from typing import Any

import docker
import httpx
import pytest

from controlplane.edge.activity import read_activity
from provisioner.leakscan import CURSOR_PREFIX
from tests.conftest import wait_state, wait_until
from tests.fixtures.backends import BOTH, is_swarm
from tests.fixtures.probes import sh
from tests.fixtures.stack import BerthProcess, Stack
from tests.fixtures.tenants import deleted, tenant_container, tenant_containers

pytestmark = [pytest.mark.docker, BOTH]


def _env(c: Any) -> dict[str, str]:
    return dict(e.split("=", 1) for e in c.attrs["Config"]["Env"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_runtime_token_scoped_rotated_and_revoked(
    client: httpx.AsyncClient,
    anon: httpx.AsyncClient,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    capfd: pytest.CaptureFixture[str],
) -> None:
    a, b = "ra" + uuid.uuid4().hex[:8], "rb" + uuid.uuid4().hex[:8]
    for slug in (a, b):
        assert (await client.post("/tenants", json={"slug": slug})).status_code == 202
    await wait_state(client, a, "running")
    await wait_state(client, b, "running")
    ca, cb = tenant_container(dock, a), tenant_container(dock, b)
    token_a, token_b = _env(ca)["BERTH_RUNTIME_TOKEN"], _env(cb)["BERTH_RUNTIME_TOKEN"]
    assert token_a != token_b
    # The label carries the token's public id only.
    assert token_a.startswith(f"berthrt_{ca.labels['berth.runtime-token']}_")
    assert token_a not in str(ca.labels)

    r = await anon.get("/runtime/self", headers=_bearer(token_a))
    assert r.status_code == 200 and r.json()["slug"] == a, r.text
    assert (await anon.get("/runtime/self", headers=_bearer(token_b))).json()["slug"] == b
    # Activity reported by the tenant reaches the idle logic's activity hash.
    tenant_a = ca.labels["berth.tenant-id"]
    assert (await anon.post("/runtime/activity", headers=_bearer(token_a))).status_code == 202
    await wait_until(
        lambda: _has_activity(stack, tenant_a), timeout=10, what="activity recorded for A"
    )
    # Scoped to A alone: B's resources and every operator route refuse it.
    for method, path in (
        ("GET", f"/tenants/{b}"),
        ("GET", f"/tenants/{a}"),
        ("DELETE", f"/tenants/{b}"),
        ("PUT", f"/tenants/{b}/secrets/X"),
        ("GET", "/tenants"),
    ):
        r = await anon.request(method, path, headers=_bearer(token_a), json={"value": "x"})
        assert r.status_code == 403, (method, path, r.status_code)

    # Recreate (new container): a new token; the old one stops working at once.
    r = await client.patch(f"/tenants/{a}", json={"env": {"MODE": "two"}})
    assert r.status_code == 202, r.text

    async def recreated() -> Any:
        body = (await client.get(f"/tenants/{a}")).json()
        if body["state"] != "running" or body["generation"] != 2:
            return None
        c = tenant_container(dock, a)
        return c if c.id != ca.id else None

    ca2 = await wait_until(recreated, timeout=90, what="A recreated")
    token_a2 = _env(ca2)["BERTH_RUNTIME_TOKEN"]
    assert token_a2 != token_a
    assert (await anon.get("/runtime/self", headers=_bearer(token_a))).status_code == 401
    r = await anon.get("/runtime/self", headers=_bearer(token_a2))
    assert r.status_code == 200 and r.json()["generation"] == 2

    # A restart keeps the token: on Docker the same container restarts (same env); on
    # Swarm the engine replaces a failed task with a new container of the same service
    # spec, so the same env. (A `docker restart` of a Swarm task container is not a
    # Swarm restart: the engine starts a replacement and the restarted one runs on
    # beside it, outside the service.)
    if is_swarm(stack):
        os.kill(ca2.attrs["State"]["Pid"], signal.SIGKILL)
    else:
        ca2.restart(timeout=5)

    async def healthy_again() -> bool:
        if not is_swarm(stack):
            return await _healthy(ca2)
        up = [c for c in tenant_containers(dock, a) if c.id != ca2.id]
        return len(up) == 1 and await _healthy(up[0]) and _env(up[0]) == _env(ca2)

    await wait_until(healthy_again, timeout=120, what="A healthy after restart")
    assert (await anon.get("/runtime/self", headers=_bearer(token_a2))).status_code == 200

    # Delete: revoked as soon as the delete is accepted; B is unaffected.
    assert (await client.delete(f"/tenants/{a}")).status_code == 202
    assert (await anon.get("/runtime/self", headers=_bearer(token_a2))).status_code == 401
    assert (await anon.get("/runtime/self", headers=_bearer(token_b))).status_code == 200
    await deleted(client, a, b)
    logs = stack.logs() + capfd.readouterr().err  # worker, beat, watcher and the API
    assert "tenant_running" in logs  # control: these are Berth's real logs
    for token in (token_a, token_a2, token_b):
        assert token not in logs, "a runtime token in Berth's logs"


async def _has_activity(stack: Stack, tenant_id: str) -> bool:
    import redis

    r = redis.Redis.from_url(stack.redis.url)
    try:
        return tenant_id in read_activity(r)
    finally:
        r.close()


async def _healthy(c: Any) -> bool:
    c.reload()
    return bool(c.status == "running" and c.attrs["State"]["Health"]["Status"] == "healthy")


async def test_leaked_secret_raises_one_incident_naming_it(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    beat: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    capfd: pytest.CaptureFixture[str],
) -> None:
    slug = "lk" + uuid.uuid4().hex[:8]
    leaky, quiet = "LEAK-" + uuid.uuid4().hex, "QUIET-" + uuid.uuid4().hex
    seen: list[str] = []

    async def call(method: str, url: str, **kw: Any) -> httpx.Response:
        r = await client.request(method, url, **kw)
        seen.append(r.text)
        return r

    body = {"slug": slug, "secrets": {"LEAKY_KEY": leaky, "QUIET_KEY": quiet}}
    assert (await call("POST", "/tenants", json=body)).status_code == 202
    await wait_state(client, slug, "running")
    c = tenant_container(dock, slug)

    async def leaks() -> list[dict[str, Any]]:
        r = await call("GET", f"/incidents?tenant={slug}&kind=secret_leak")
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    # Control: the beat's scan covers this container (its cursor moves past a moment
    # after the start) and, while the tenant prints nothing secret, raises nothing.
    started = time.time()
    # The scan's cursor is per contract container: on Swarm, the service.
    scanned = c.labels.get("com.docker.swarm.service.id") if is_swarm(stack) else c.id
    await wait_until(
        lambda: _scanned_past(stack, scanned, started), timeout=30, what="a leak scan of it"
    )
    assert await leaks() == []

    # The tenant's runtime prints its secret to its own stdout (PID 1's).
    code, out = sh(c, 'echo "debug: using key $LEAKY_KEY" > /proc/1/fd/1')
    assert code == 0, out
    assert leaky in c.logs().decode()  # the value really is in the container's log

    found = await wait_until(leaks, timeout=30, what="a secret_leak incident")
    assert len(found) == 1, found
    (incident,) = found
    assert incident["secret"] == "LEAKY_KEY" and incident["severity"] == "critical"
    assert incident["occurrences"] == 1

    # Printed again: the same incident counts it, no second incident.
    sh(c, 'echo "again: $LEAKY_KEY" > /proc/1/fd/1')

    async def counted() -> bool:
        items = await leaks()
        return len(items) == 1 and items[0]["occurrences"] == 2

    await wait_until(counted, timeout=30, what="the repeat folded into the incident")
    audit = await call("GET", f"/audit?target=tenant:{slug}")
    assert any(e["action"] == "tenant.secret_leak" for e in audit.json()["items"]), audit.text
    await deleted(client, slug)

    logs = stack.logs() + capfd.readouterr().err
    assert "LEAKY_KEY" in logs  # the log names the secret ...
    assert leaky not in logs, "the leaked value in Berth's logs"  # ... never its value
    assert all(leaky not in text and quiet not in text for text in seen)


async def _scanned_past(stack: Stack, container_id: str, moment: float) -> bool:
    import redis

    r = redis.Redis.from_url(stack.redis.url)
    try:
        raw = r.get(CURSOR_PREFIX + container_id)
    finally:
        r.close()
    return raw is not None and float(raw) > moment
