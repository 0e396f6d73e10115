"""Rollouts, pause and resume, and crash recovery on both runtimes: Docker, and Swarm.

Each test runs once per backend (the stack fixture is parametrised: BERTH_RUNTIME is
`docker` or `swarm`); see test_backends.py for signup, delete, recreate and secrets.
"""

from __future__ import annotations

import os
import signal
import uuid
from typing import Any

import docker
import httpx
import pytest

from tests.conftest import wait_state, wait_until
from tests.fixtures.backends import WAIT, is_swarm, tenant_health, tenant_services
from tests.fixtures.probes import sh
from tests.fixtures.stack import BerthProcess, Stack
from tests.fixtures.tenants import tenant_container, tenant_containers

pytestmark = [
    pytest.mark.docker,
    pytest.mark.parametrize("stack", ["docker", "swarm"], indirect=True),
]


async def _finished(client: httpx.AsyncClient, rollout_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(f"/rollouts/{rollout_id}")).json()
        return body if body["state"] in ("completed", "halted") else None

    return await wait_until(done, timeout=240, interval=0.25, what=f"rollout {rollout_id}")


async def _running_fleet(client: httpx.AsyncClient, letter: str, size: int) -> list[str]:
    """`size` small tenants on blueprint 1, all running."""
    prefix = letter + uuid.uuid4().hex[:6]
    slugs = [f"{prefix}-{i}" for i in range(size)]
    for s in slugs:
        body = {"slug": s, "blueprint_version": "1", "limits": {"memory_mb": 32}}
        r = await client.post("/tenants", json=body)
        assert r.status_code == 202, r.text
    for s in slugs:
        await wait_state(client, s, "running", timeout=120)
    return slugs


async def _all_serve_v2_once(dock: docker.DockerClient, stack: Stack, slugs: list[str]) -> None:
    """Each tenant runs one container on blueprint 2 and serves it; on Swarm the old
    colour's service is gone."""
    for s in slugs:
        (c,) = tenant_containers(dock, s)
        assert c.attrs["Config"]["Labels"]["berth.blueprint"] == "2"
        assert (await tenant_health(dock, stack, s))["version"] == "2"
        if is_swarm(stack):
            assert len(tenant_services(dock, stack, s)) == 1, "the old colour's service is removed"


async def test_rollout_upgrades_and_a_broken_version_halts(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
) -> None:
    slugs = await _running_fleet(client, "r", 3)

    r = await client.post("/blueprints/2/deploy", json={"canary": 1, "selector": {"slugs": slugs}})
    assert r.status_code == 202, r.text
    upgrade = await _finished(client, r.json()["id"])
    assert upgrade["state"] == "completed", upgrade
    assert upgrade["counts"]["done"] == len(slugs)
    await _all_serve_v2_once(dock, stack, slugs)

    r = await client.post("/blueprints/3/deploy", json={"canary": 1, "selector": {"slugs": slugs}})
    assert r.status_code == 202, r.text
    broken = await _finished(client, r.json()["id"])
    assert broken["state"] == "halted"
    assert "canary failed" in broken["reason"] and "did not answer 200" in broken["reason"]
    assert broken["counts"]["failed"] == 1 and broken["counts"]["done"] == 0
    # Everyone, the canary included, still serves version 2 from one container.
    for s in slugs:
        assert (await tenant_health(dock, stack, s))["version"] == "2"
        tenant = (await client.get(f"/tenants/{s}")).json()
        assert tenant["blueprint_version"] == "2" and tenant["state"] == "running"

    rollback = await client.post(f"/rollouts/{upgrade['id']}/rollback")
    assert rollback.status_code == 202, rollback.text
    assert (await _finished(client, rollback.json()["id"]))["state"] == "completed"
    for s in slugs:
        assert (await tenant_health(dock, stack, s))["version"] == "1"
        await client.delete(f"/tenants/{s}")


async def test_pause_by_stop_and_resume(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    await client.post("/tenants", json={"slug": slug, "plan": "free"})
    await wait_state(client, slug, "running")
    assert sh(tenant_container(dock, slug), "echo kept > /data/f")[0] == 0
    r = await client.post(f"/tenants/{slug}/pause")
    assert r.status_code == 202, r.text
    await wait_state(client, slug, "paused")
    # Stopped: nothing runs (on Swarm the service is scaled to 0 and stays).
    assert not tenant_containers(dock, slug)
    if is_swarm(stack):
        (svc,) = tenant_services(dock, stack, slug)
        assert svc.attrs["Spec"]["Mode"] == {"Replicated": {"Replicas": 0}}

    assert (await client.post(f"/tenants/{slug}/resume")).status_code == 202
    await wait_state(client, slug, "running")
    assert (await tenant_health(dock, stack, slug))["tenant"] == slug
    assert sh(tenant_container(dock, slug), "cat /data/f") == (0, "kept\n")
    await client.delete(f"/tenants/{slug}")


async def test_freeze_pause_is_refused_on_swarm_only(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    await client.post("/tenants", json={"slug": slug, "plan": "standard"})
    await wait_state(client, slug, "running")
    r = await client.post(f"/tenants/{slug}/pause")
    if is_swarm(stack):
        assert r.status_code == 409, r.text
        assert r.json()["field"] == "pause_mode"
        assert "Swarm" in r.text and "'stop'" in r.text
        assert (await client.get(f"/tenants/{slug}")).json()["desired_state"] == "running"
    else:
        # Control: the same request on Docker freezes the container.
        assert r.status_code == 202, r.text
        await wait_state(client, slug, "paused")
        assert dock.containers.get(f"berth-{slug}").status == "paused"
    await client.delete(f"/tenants/{slug}")


async def test_a_killed_tenant_is_an_incident_and_comes_back(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    watcher: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    await client.post("/tenants", json={"slug": slug})
    await wait_state(client, slug, "running")
    c = tenant_container(dock, slug)
    started = c.attrs["State"]["StartedAt"]
    os.kill(c.attrs["State"]["Pid"], signal.SIGKILL)

    async def crash() -> list[dict[str, Any]]:
        r = await client.get("/incidents", params={"tenant": slug, "kind": "crash"})
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    incidents = await wait_until(crash, timeout=30, what="a crash incident")
    assert incidents[0]["exit_code"] == 137

    async def back() -> dict[str, Any] | None:
        # Docker restarts the same container; Swarm replaces the task's container.
        # What counts is that the restarted process serves again (the image's own
        # healthcheck verdict lags behind that on a busy host).
        body: dict[str, Any] = (await client.get(f"/tenants/{slug}")).json()
        up = [x for x in tenant_containers(dock, slug) if x.attrs["State"]["StartedAt"] != started]
        if body["state"] != "running" or not up:
            return None
        try:
            served = (await tenant_health(dock, stack, slug))["tenant"] == slug
        except (httpx.HTTPError, KeyError, ValueError):
            return None  # between the old process and the new one
        return body if served else None

    body = await wait_until(back, timeout=WAIT, what="the restarted tenant serving again")
    assert body["restart_count"] >= 1
    await client.delete(f"/tenants/{slug}")


def _serving_ids(dock: docker.DockerClient, stack: Stack, slugs: list[str]) -> dict[str, str]:
    """What an upgrade replaces, per tenant: the Swarm service, or Docker's container."""
    if is_swarm(stack):
        return {s: svc.id for s in slugs for svc in tenant_services(dock, stack, s)}
    return {s: c.id for s in slugs for c in tenant_containers(dock, s)}


async def test_a_sigkilled_worker_mid_rollout_finishes_with_one_instance_each(
    client: httpx.AsyncClient,
    worker: BerthProcess,
    beat: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
) -> None:
    if not worker.alive:
        worker.start()
    slugs = await _running_fleet(client, "k", 4)

    r = await client.post(
        "/blueprints/2/deploy", json={"canary": 1, "max_parallel": 1, "selector": {"slugs": slugs}}
    )
    assert r.status_code == 202, r.text
    rollout_id = r.json()["id"]

    async def mid_upgrade() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(f"/rollouts/{rollout_id}")).json()
        assert body["state"] != "halted", body
        upgrading = any(t["state"] == "upgrading" for t in body["targets"])
        return body if body["counts"]["done"] >= 1 and upgrading else None

    # Killed while a target is being upgraded (its new colour may be half made).
    mid = await wait_until(mid_upgrade, timeout=WAIT, interval=0.1, what="a target upgrading")
    worker.kill(signal.SIGKILL)
    done_before = [t["slug"] for t in mid["targets"] if t["state"] == "done"]
    ids_before = _serving_ids(dock, stack, done_before)
    worker.start()

    # Beat's reconciler hands the orphaned rollout to the new worker.
    body = await _finished(client, rollout_id)
    assert body["state"] == "completed", body
    assert body["counts"]["done"] == len(slugs)
    # The colour being made when the worker died was finished or removed.
    await _all_serve_v2_once(dock, stack, slugs)
    # The tenants done before the kill were not upgraded a second time.
    assert _serving_ids(dock, stack, done_before) == ids_before
    for s in slugs:
        await client.delete(f"/tenants/{s}")
