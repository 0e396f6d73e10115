"""Idle tenants pause by themselves; the edge wakes them (real engine, worker, beat).

The pause/wake tests run on both runtimes. Swarm has no freezer: where the Docker
case freezes, the Swarm case pauses by stop (the service scales to 0) and the idle
sweep leaves tenants of freeze plans running; the freeze-only thaw path is Docker's.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import docker
import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import wait_state, wait_until
from tests.fixtures.backends import BOTH, is_swarm, tenant_address, tenant_stopped
from tests.fixtures.plans import existing_freeze_plan, make_plan
from tests.fixtures.stack import BerthProcess, Stack
from tests.fixtures.tenants import tenant_container

pytestmark = pytest.mark.docker

DOMAIN = "test.localhost"


async def signup(client: httpx.AsyncClient, slug: str, plan: str) -> None:
    r = await client.post("/tenants", json={"slug": slug, "plan": plan})
    assert r.status_code == 202, r.text


async def running_tenant(client: httpx.AsyncClient, slug: str, pause_mode: str) -> None:
    await signup(client, slug, await make_plan(client, pause_mode=pause_mode))
    await wait_state(client, slug, "running")


async def pause(client: httpx.AsyncClient, slug: str) -> dict[str, Any]:
    r = await client.post(f"/tenants/{slug}/pause")
    assert r.status_code == 202, r.text
    return await wait_state(client, slug, "paused")


def freeze_or_stop(stack: Stack) -> str:
    """The pause mode that keeps memory where there is one: freeze, or stop on Swarm."""
    return "stop" if is_swarm(stack) else "freeze"


def container(dock: docker.DockerClient, stack: Stack, slug: str) -> Any:
    """The tenant's one container. On Swarm its running task container: a stopped
    task's container stays, exited, beside the one a wake starts."""
    if is_swarm(stack):
        return tenant_container(dock, slug)
    found = dock.containers.list(
        all=True, filters={"label": [f"berth.instance={stack.instance}", f"berth.tenant={slug}"]}
    )
    assert len(found) == 1, [c.name for c in found]
    return found[0]


def stopped(dock: docker.DockerClient, stack: Stack, slug: str) -> bool:
    """Paused by stop: memory freed, nothing runs (on Swarm: scaled to 0)."""
    if is_swarm(stack):
        return tenant_stopped(dock, stack, slug)
    return bool(container(dock, stack, slug).attrs["State"]["Status"] == "exited")


def gate_headers(slug: str) -> dict[str, str]:
    # What Traefik's ForwardAuth sends (trustForwardHeader: true).
    return {
        "X-Forwarded-Host": f"{slug}.{DOMAIN}",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Method": "GET",
        "X-Forwarded-Uri": "/",
        "X-Forwarded-For": "203.0.113.7",
    }


async def health_of(dock: docker.DockerClient, stack: Stack, c: Any) -> int:
    ip = tenant_address(dock, stack, c)
    async with httpx.AsyncClient(timeout=2, trust_env=False) as h:
        return (await h.get(f"http://{ip}:8080/health")).status_code


@BOTH
async def test_idle_tenant_pauses_busy_ones_do_not(
    client: httpx.AsyncClient,
    anon: httpx.AsyncClient,
    app: FastAPI,
    live_worker: BerthProcess,
    beat: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
) -> None:
    idle_after = 5
    plan = await make_plan(client, idle_after=idle_after, pause_mode=freeze_or_stop(stack))
    quiet, http, cpu = (f"{k}{uuid.uuid4().hex[:8]}" for k in ("quiet", "http", "cpu"))
    busy = [http, cpu]
    for slug in (quiet, http, cpu):
        await signup(client, slug, plan)
    if is_swarm(stack):
        # Swarm cannot freeze: the sweep leaves a quiet tenant of a freeze plan running.
        frozen_plan = await existing_freeze_plan(app, idle_after=idle_after)
        busy.append(f"frz{uuid.uuid4().hex[:8]}")
        await signup(client, busy[-1], frozen_plan)
    for slug in (quiet, *busy):
        await wait_state(client, slug, "running")

    # Background work with no HTTP traffic at all: a busy loop inside the container.
    container(dock, stack, cpu).exec_run(["/bin/sh", "-c", "while :; do :; done"], detach=True)
    stop = asyncio.Event()

    async def traffic() -> None:
        while not stop.is_set():
            r = await anon.get("/edge/gate", headers=gate_headers(http))
            assert r.status_code == 200, r.text
            await asyncio.sleep(1)

    sender = asyncio.create_task(traffic())
    try:
        started = time.monotonic()
        await wait_state(client, quiet, "paused", timeout=idle_after + 15)
        paused_after = time.monotonic() - started
        assert paused_after >= idle_after - 1  # not before its idle_after
        if is_swarm(stack):
            assert stopped(dock, stack, quiet)
        else:
            assert container(dock, stack, quiet).attrs["State"]["Paused"] is True

        # Watch the busy tenants for longer than idle_after again: never paused.
        deadline = time.monotonic() + idle_after + 4
        while time.monotonic() < deadline:
            for slug in busy:
                body = (await client.get(f"/tenants/{slug}")).json()
                assert body["state"] == "running", (slug, body["state"], body["state_reason"])
                assert body["desired_state"] == "running", slug
            await asyncio.sleep(0.5)
    finally:
        stop.set()
        await sender

    audit = (await client.get("/audit", params={"action": "tenant.pause"})).json()["items"]
    paused_targets = {e["target"] for e in audit if e["detail"].get("reason") == "idle"}
    assert f"tenant:{quiet}" in paused_targets
    assert not {f"tenant:{s}" for s in busy} & paused_targets
    body = (await client.get(f"/tenants/{http}")).json()
    assert body["last_active_at"] is not None
    for slug in (quiet, *busy):
        await client.delete(f"/tenants/{slug}")


# Docker only: the thaw path needs the cgroup freezer, which Swarm does not have
# (freeze pauses are refused there: test_backends_operations.py).
async def test_gate_serves_a_frozen_tenant_within_its_wait(
    client: httpx.AsyncClient,
    anon: httpx.AsyncClient,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    await running_tenant(client, slug, "freeze")
    body = await pause(client, slug)
    assert body["state_reason"] == "paused (freeze)"
    c = container(dock, stack, slug)
    assert c.attrs["State"]["Paused"] is True
    started_at = c.attrs["State"]["StartedAt"]

    r = await anon.get("/edge/gate", headers=gate_headers(slug))
    assert r.status_code == 200, r.text
    # The gate answered only once the tenant serves again: same container, thawed.
    c = container(dock, stack, slug)
    assert c.attrs["State"]["Paused"] is False
    assert c.attrs["State"]["StartedAt"] == started_at
    assert await health_of(dock, stack, c) == 200
    # The records follow the thaw (the gate does not wait for them).
    body = await wait_state(client, slug, "running", timeout=10)
    assert body["desired_state"] == "running"
    wakes = (await client.get("/audit", params={"action": "tenant.wake"})).json()["items"]
    assert any(e["target"] == f"tenant:{slug}" and e["key_id"] == "edge" for e in wakes)
    await client.delete(f"/tenants/{slug}")


@BOTH
async def test_gate_wakes_a_stopped_tenant_and_data_survives(
    client: httpx.AsyncClient,
    anon: httpx.AsyncClient,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    await running_tenant(client, slug, "stop")
    r = await client.put(f"/tenants/{slug}/secrets/API_TOKEN", json={"value": "s3cr3t-v"})
    assert r.status_code == 200
    await wait_until(
        lambda: _generation_running(client, slug, 2), timeout=60, what="secret applied"
    )
    code, _ = container(dock, stack, slug).exec_run(
        ["/bin/sh", "-c", "echo kept-across-pause > /data/marker"]
    )
    assert code == 0

    await pause(client, slug)
    assert stopped(dock, stack, slug)  # memory freed: nothing runs
    incidents = (await client.get("/incidents", params={"tenant": slug})).json()["items"]
    assert incidents == []  # Berth's own stop is not a crash

    r = await anon.get("/edge/gate", headers=gate_headers(slug))
    assert r.status_code == 200, r.text
    c = container(dock, stack, slug)
    assert c.attrs["State"]["Status"] == "running"
    assert await health_of(dock, stack, c) == 200
    code, out = c.exec_run(["/bin/sh", "-c", 'cat /data/marker; echo "$API_TOKEN"'])
    assert code == 0
    assert out.decode().split() == ["kept-across-pause", "s3cr3t-v"]
    await client.delete(f"/tenants/{slug}")


async def _generation_running(client: httpx.AsyncClient, slug: str, generation: int) -> bool:
    body = (await client.get(f"/tenants/{slug}")).json()
    return bool(body["state"] == "running" and body["generation"] == generation)


@BOTH
async def test_waker_wakes_a_stopped_tenant_and_redirects(
    client: httpx.AsyncClient,
    anon: httpx.AsyncClient,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    await running_tenant(client, slug, "stop")
    await pause(client, slug)

    # What the berth-waker router sends: the tenant's Host, the path behind the
    # /edge/wake prefix that its addPrefix middleware adds.
    headers = {"X-Forwarded-Host": f"{slug}.{DOMAIN}", "X-Forwarded-Proto": "https"}

    async def woken() -> httpx.Response | None:
        r = await anon.get("/edge/wake/inbox/7", params={"tab": "new"}, headers=headers)
        if r.status_code == 503:
            # Still starting: the small page that reloads itself.
            assert r.headers["retry-after"] == "2"
            assert 'http-equiv="refresh"' in r.text and slug in r.text
            return None
        return r

    # Generous: a Swarm wake is a scale to 1 (overlay attach, first healthcheck).
    r = await wait_until(woken, timeout=150, what="the waker to redirect")
    assert r.status_code == 307, r.text
    assert r.headers["location"] == f"https://{slug}.{DOMAIN}/inbox/7?tab=new"
    c = container(dock, stack, slug)
    assert c.attrs["State"]["Status"] == "running"
    assert await health_of(dock, stack, c) == 200
    await client.delete(f"/tenants/{slug}")


async def test_edge_refuses_bad_hosts(anon: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    r = await anon.get("/edge/gate")
    assert r.status_code == 422
    assert r.json()["field"] == "X-Forwarded-Host"
    for host in (f"nobody-here.{DOMAIN}", "acme.example.org", f"a.b.{DOMAIN}", "[::1]:80", DOMAIN):
        r = await anon.get("/edge/gate", headers={"X-Forwarded-Host": host})
        assert r.status_code == 404, (host, r.status_code)
        assert r.json()["error"] == "not_found"
        r = await anon.get("/edge/wake/x", headers={"X-Forwarded-Host": host})
        assert r.status_code == 404, (host, r.status_code)


async def test_pause_refuses_a_tenant_that_is_not_running(
    client: httpx.AsyncClient, slug: str
) -> None:
    # No worker: the tenant stays pending.
    await signup(client, slug, "standard")
    r = await client.post(f"/tenants/{slug}/pause")
    assert r.status_code == 409
    assert r.json()["field"] == "state"
    r = await client.post("/tenants/no-such-tenant/pause")
    assert r.status_code == 404
    r = await client.delete(f"/tenants/{slug}")
    assert r.status_code == 202


@BOTH
async def test_concurrent_gate_requests_share_one_wake(
    client: httpx.AsyncClient,
    anon: httpx.AsyncClient,
    live_worker: BerthProcess,
    stack: Stack,
    slug: str,
) -> None:
    await running_tenant(client, slug, freeze_or_stop(stack))
    await pause(client, slug)
    answers = await asyncio.gather(
        *(anon.get("/edge/gate", headers=gate_headers(slug)) for _ in range(20))
    )
    assert [r.status_code for r in answers] == [200] * 20
    await wait_state(client, slug, "running", timeout=10)
    params = {"action": "tenant.wake", "target": f"tenant:{slug}"}
    wakes = (await client.get("/audit", params=params)).json()["items"]
    assert len(wakes) == 1, wakes
    await client.delete(f"/tenants/{slug}")
