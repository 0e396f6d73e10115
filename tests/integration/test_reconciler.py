"""The level-triggered reconciler repairs out-of-band faults, and is idempotent.

Every test runs on both runtimes. On Swarm the engine repairs some faults itself (a
removed or stopped task container is replaced by a new task); the promise is the
same: the tenant runs again within one interval, and what the watcher missed the
reconciler records.
"""

from __future__ import annotations

import signal
import time
import uuid
from typing import Any

import docker
import httpx
import pytest
from sqlalchemy import select

from controlplane.models import AuditEvent
from provisioner.context import build_context
from provisioner.reconcile import reconcile
from provisioner.runtime.docker import DockerBackend
from tests.conftest import wait_state, wait_until
from tests.fixtures.backends import BOTH, is_swarm, restarts, sweep_that_ran
from tests.fixtures.stack import BerthProcess, Stack
from tests.fixtures.tenants import tenant_containers

pytestmark = [pytest.mark.docker, BOTH]


def _container(dock: docker.DockerClient, stack: Stack, slug: str) -> Any:
    """The tenant's one container. On Swarm, its one running task container: a
    replaced task's container stays beside its replacement, exited."""
    if is_swarm(stack):
        found = tenant_containers(dock, slug)
    else:
        # ignore_removed: the SDK inspects each listed container, and a repair may be
        # removing one in between.
        found = dock.containers.list(
            all=True, filters={"label": f"berth.tenant={slug}"}, ignore_removed=True
        )
    if len(found) != 1:
        raise docker.errors.NotFound(f"{len(found)} containers for {slug}")
    return found[0]


async def _running_again(
    client: httpx.AsyncClient, dock: docker.DockerClient, slug: str, stack: Stack, *, within: float
) -> float:
    started = time.monotonic()

    async def repaired() -> bool:
        body = (await client.get(f"/tenants/{slug}")).json()
        try:
            c = _container(dock, stack, slug)
        except docker.errors.NotFound:
            return False
        return body["state"] == "running" and c.status == "running"

    await wait_until(repaired, timeout=within, what=f"{slug} repaired")
    return time.monotonic() - started


async def test_rm_f_stop_and_orphan_are_repaired_within_one_interval(
    client: httpx.AsyncClient,
    app: Any,
    live_worker: BerthProcess,
    beat: BerthProcess,
    no_watcher: None,
    stack: Stack,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    interval = stack.settings.reconcile_interval
    # One interval for the sweep to come round, plus the provisioning it triggers.
    budget = interval + stack.settings.provision_timeout
    await client.post("/tenants", json={"slug": slug})
    await wait_state(client, slug, "running")

    _container(dock, stack, slug).remove(force=True)
    await _running_again(client, dock, slug, stack, within=budget)

    c = _container(dock, stack, slug)
    c.stop(timeout=2)
    await _running_again(client, dock, slug, stack, within=budget)
    # Repaired, not re-provisioned: the same generation (on Swarm, the same service).
    assert (await client.get(f"/tenants/{slug}")).json()["generation"] == 1

    ghost_id = str(uuid.uuid4())
    labels = {
        "berth.managed": "true",
        "berth.instance": stack.instance,
        "berth.tenant": "ghost",
        "berth.tenant-id": ghost_id,
    }
    orphan: Any
    if is_swarm(stack):
        # On Swarm, Berth's objects are services: an orphan is a service of no tenant
        # (scaled to 0, so a sweep can remove it at any moment).
        orphan = dock.services.create(
            "berth-sample:1",
            name=f"berth-ghost-{ghost_id[:8]}",
            labels=labels,
            container_labels=labels,
            mode=docker.types.ServiceMode("replicated", replicas=0),
        )
    else:
        # Created, not run: a sweep may remove it at any moment, even between a create
        # and a start (containers.run would then fail on "marked for removal").
        orphan = dock.containers.create(
            "berth-sample:1", name=f"berth-ghost-{ghost_id[:8]}", labels=labels
        )

    async def orphan_gone() -> bool:
        if is_swarm(stack):
            return not dock.services.list(filters={"id": orphan.id})
        # The raw list: the SDK's list inspects each entry, and the sweep may remove
        # the orphan between the two calls.
        return not dock.api.containers(all=True, filters={"id": orphan.id})

    await wait_until(orphan_gone, timeout=budget, what="orphan removed")

    async def audited() -> list[AuditEvent] | None:
        async with app.state.sessionmaker() as s:
            found = await s.execute(
                select(AuditEvent).where(
                    AuditEvent.action == "container.orphan_removed",
                    AuditEvent.target == f"container:berth-ghost-{ghost_id[:8]}",
                )
            )
            return list(found.scalars().all()) or None

    # The sweep commits its audit record just after the removal it records.
    events = await wait_until(audited, timeout=10, what="the removal audited")
    assert len(events) == 1 and events[0].detail["tenant_id"] == ghost_id


async def test_with_watcher_down_an_oom_is_still_recorded_by_the_reconciler(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    beat: BerthProcess,
    no_watcher: None,
    stack: Stack,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    await client.post("/tenants", json={"slug": slug, "limits": {"memory_mb": 48}})
    await wait_state(client, slug, "running")
    c = _container(dock, stack, slug)
    c.exec_run(["kill", "-USR1", "1"])

    async def recorded() -> list[dict[str, Any]]:
        r = await client.get("/incidents", params={"tenant": slug, "kind": "oom"})
        return [i for i in r.json()["items"] if i["source"] == "reconciler"]

    found = await wait_until(
        recorded,
        timeout=stack.settings.reconcile_interval * 3 + 10,
        what="an oom incident from the reconciler",
    )
    assert found[0]["kind"] == "oom"  # from the engine's OOMKilled flag, without any event
    c.reload()
    assert c.attrs["State"]["OOMKilled"] is True
    if is_swarm(stack):
        # Swarm replaced the OOM-killed task; its container stays, exited.
        assert c.status == "exited" and _container(dock, stack, slug).id != c.id
    else:
        assert c.status == "running"
    assert restarts(dock, stack, slug) >= 1
    body = (await client.get(f"/tenants/{slug}")).json()
    assert body["state"] == "running" and body["restart_count"] >= 1


async def test_second_sweep_on_an_unchanged_world_makes_no_mutating_call(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    stack: Stack,
    slug: str,
) -> None:
    mine = [f"{slug}{i}" for i in range(3)]
    for s in mine:
        await client.post("/tenants", json={"slug": s})
    for s in mine:
        await wait_state(client, s, "running")
    ctx = build_context(stack.settings)
    backend = ctx.backend
    assert isinstance(backend, DockerBackend)
    try:
        await sweep_that_ran(ctx)
        before = dict(backend.api.calls)
        result = await sweep_that_ran(ctx)
        after = dict(backend.api.calls)
    finally:
        await ctx.engine.dispose()
    mutating = sum(after.get(m, 0) - before.get(m, 0) for m in ("POST", "PUT", "DELETE"))
    assert mutating == 0, (before, after)
    assert after.get("GET", 0) - before.get("GET", 0) >= 1  # it did look: one list call
    assert not set(mine) & set(result.enqueued)


async def test_restarted_berth_adopts_containers_without_restarting_them(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    await client.post("/tenants", json={"slug": slug})
    await wait_state(client, slug, "running")
    c = _container(dock, stack, slug)
    started = c.attrs["State"]["StartedAt"]
    # Every Berth process goes away and comes back; then a start-up sweep runs.
    for proc in list(stack.workers):
        if proc.alive:
            proc.kill(signal.SIGKILL)
            proc.start()
    ctx = build_context(stack.settings)
    try:
        await reconcile(ctx, enqueue=lambda tid, _d: None)
    finally:
        await ctx.engine.dispose()
    c.reload()
    assert c.attrs["State"]["StartedAt"] == started and c.attrs["RestartCount"] == 0
    # The same container still serves (on Swarm: no new task replaced it).
    assert _container(dock, stack, slug).id == c.id and c.status == "running"
    assert (await client.get(f"/tenants/{slug}")).json()["state"] == "running"


async def test_docker_restart_by_hand_never_leaves_two_processes_on_the_volume(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    no_watcher: None,
    no_beat: None,
    stack: Stack,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    """`docker restart` on the tenant's container. Docker restarts that same container.
    On Swarm the old task has ended, so Swarm starts a replacement, and the restarted
    container of the old task runs beside it, on the same volume, for as long as the
    service exists. One sweep removes it (beat is off, so that sweep is the test's)."""
    await client.post("/tenants", json={"slug": slug})
    await wait_state(client, slug, "running")
    before = _container(dock, stack, slug)
    before.restart(timeout=1)

    async def settled() -> list[Any] | None:
        if is_swarm(stack):
            svc = dock.services.list(filters={"label": f"berth.tenant={slug}"})[0]
            tasks = svc.tasks()
            replaced = any(
                t["DesiredState"] == "running"
                and t["Status"]["State"] == "running"
                and t["ID"] != before.labels["com.docker.swarm.task.id"]
                for t in tasks
            )
            if not replaced:
                return None
        running = tenant_containers(dock, slug)
        return running if before.id in {c.id for c in running} else None

    running = await wait_until(settled, timeout=60, what="the restart and its replacement")
    if is_swarm(stack):
        assert len(running) == 2, "the restarted old task runs beside its replacement"
    ctx = build_context(stack.settings)
    try:
        result = await sweep_that_ran(ctx)
    finally:
        await ctx.engine.dispose()
    after = tenant_containers(dock, slug)
    assert len(after) == 1
    if is_swarm(stack):
        assert result.strays == 1 and after[0].id != before.id
    else:
        assert result.strays == 0 and after[0].id == before.id  # Docker's own restart
    body = (await client.get(f"/tenants/{slug}")).json()
    assert body["state"] == "running" and body["generation"] == 1
    # A second sweep finds nothing more to do.
    ctx = build_context(stack.settings)
    try:
        assert (await sweep_that_ran(ctx)).strays == 0
    finally:
        await ctx.engine.dispose()
