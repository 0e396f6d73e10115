"""Pausing and waking a tenant's container. The tenant lock must be held.

Two pause modes, chosen by the tenant's plan:
- freeze: `docker pause` (the cgroup freezer). Memory stays allocated and waking is
  one unpause, so it takes milliseconds.
- stop: `docker stop`. Memory is freed; waking is a start plus a health check. The
  /data volume and the tenant's secrets are untouched either way.

Waking runs in two places: converge (a worker, for `POST /resume` and repairs) and
the API's edge gate, which must answer the waiting request itself without a queue
round-trip. Both call wake_locked under the same advisory lock.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.audit.service import record
from controlplane.events.repository import EventRepository
from controlplane.tenants.repository import TenantRepository
from provisioner.bluegreen import remove
from provisioner.context import WorkerContext
from provisioner.health import wait_healthy
from provisioner.locks import tenant_lock
from provisioner.runtime.base import RuntimeBackendError
from provisioner.snapshot import Outcome, Snapshot, containers, is_current, mark_running, snapshot

log = structlog.get_logger(__name__)

# Container states that count as paused: frozen, or stopped by Berth.
PAUSED_STATES = ("paused", "exited", "created")


async def pause_locked(ctx: WorkerContext, snap: Snapshot) -> Outcome:
    """Freeze or stop the tenant's current container and record `paused`.

    Containers of an older generation are removed: a paused tenant whose spec changed
    gets a fresh container when it wakes.
    """
    tenant = snap.tenant
    existing = await containers(ctx, tenant.id)
    current = [c for c in existing if is_current(c, tenant)]
    keep = current[:1]
    extra = [c for c in existing if c not in keep]
    if extra:
        await remove(ctx, extra)
    if keep and keep[0].state not in PAUSED_STATES:
        info = keep[0]
        # Without a freezer (Swarm) a pause that got this far, e.g. desired before the
        # runtime changed, stops instead; new freeze pauses are refused by the API.
        freeze = snap.plan.pause_mode == "freeze" and ctx.backend.supports_freeze
        if freeze and info.state == "running":
            await asyncio.to_thread(ctx.backend.pause, info.id)
        else:
            await asyncio.to_thread(ctx.expect_stop, [info.id])
            await asyncio.to_thread(ctx.backend.stop, info.id)
    if tenant.state == "paused":
        return Outcome.PAUSED
    async with ctx.sessionmaker() as session:
        ok = await TenantRepository(session).set_paused(
            tenant.id, generation=tenant.generation, mode=snap.plan.pause_mode
        )
        await session.commit()
    log.info("tenant_paused", tenant=tenant.slug, mode=snap.plan.pause_mode)
    return Outcome.PAUSED if ok else Outcome.STALE


async def wake_locked(ctx: WorkerContext, snap: Snapshot) -> Outcome | None:
    """Thaw or start the paused tenant's container and wait for its health path.

    Returns None when there is no current container to wake (it was removed, or the
    spec changed while paused): the caller then provisions a fresh one.
    """
    tenant = snap.tenant
    existing = await containers(ctx, tenant.id)
    current = [c for c in existing if is_current(c, tenant)]
    if len(current) != 1 or current[0].state not in (*PAUSED_STATES, "running"):
        return None
    info = current[0]
    if len(existing) > 1:
        await remove(ctx, [c for c in existing if c is not info])
    if info.state == "paused":
        await asyncio.to_thread(ctx.backend.resume, info.id)
    elif info.state != "running":
        await asyncio.to_thread(ctx.backend.start, info.id)
        fresh = await asyncio.to_thread(ctx.backend.inspect, info.id)
        if fresh is None:
            return None
        info = fresh  # a restarted container may get a new address
    result = await wait_healthy(
        ctx.backend,
        ctx.http(),
        info,
        port=snap.blueprint.port,
        path=snap.blueprint.health_path,
        timeout=ctx.settings.provision_timeout,
        poll=ctx.settings.health_poll_interval,
    )
    if not result.healthy:
        log.warning("wake_unhealthy", tenant=tenant.slug, reason=result.reason)
        return None
    outcome = await mark_running(ctx, tenant, result.info or info)
    log.info("tenant_woken", tenant=tenant.slug)
    return outcome


async def request_wake(ctx: WorkerContext, tenant_id: uuid.UUID, *, actor: str) -> None:
    """Desire `running` for a paused tenant, audited as woken by `actor`."""
    async with ctx.sessionmaker() as session:
        await _request_wake(session, tenant_id, actor=actor)
        await session.commit()


async def _request_wake(session: AsyncSession, tenant_id: uuid.UUID, *, actor: str) -> None:
    repo = TenantRepository(session)
    if await repo.request_wake(tenant_id):
        tenant = await repo.get(tenant_id)
        assert tenant is not None
        record(
            session,
            actor=actor,
            action="tenant.wake",
            target=f"tenant:{tenant.slug}",
            detail={"reason": "request"},
        )


async def thaw(
    ctx: WorkerContext,
    tenant_id: uuid.UUID,
    *,
    actor: str | None = None,
    on_serving: Callable[[], None] | None = None,
) -> Outcome | None:
    """The millisecond path for a frozen tenant: one unpause of the container it was
    running, no list, no health probe. Thawing resumes the very processes that were
    serving when they were frozen; if anything is off (another mode, a spec change
    while paused, the container gone) this returns None and the full path runs.

    With `actor`, a tenant still desired paused is woken on that actor's behalf. The
    desired and observed state are written in one transaction after the unpause, and
    `on_serving` runs between the two: a caller holding a request open can let it
    through without waiting for the database.
    """
    async with ctx.sessionmaker() as session:
        tenant = await TenantRepository(session).get(tenant_id)
    if (
        tenant is None
        or tenant.state != "paused"
        or (tenant.desired_state != "running" and actor is None)
        or tenant.desired_state == "deleted"
        or tenant.container_id is None
        or tenant.observed_generation != tenant.generation
    ):
        return None
    started = time.time()
    try:
        await asyncio.to_thread(ctx.backend.resume, tenant.container_id)
    except RuntimeBackendError:
        return None  # not frozen (stopped) or gone: the full path handles it
    if on_serving is not None:
        on_serving()
    async with ctx.sessionmaker() as session:
        if actor is not None:
            # The request and the result commit together here, so tell the lifecycle
            # trigger when the wake really began (its wake-latency measurement).
            await EventRepository(session).hint_wake_started(started)
            await _request_wake(session, tenant_id, actor=actor)
        ok = await TenantRepository(session).set_observed(
            tenant_id,
            generation=tenant.generation,
            state="running",
            reason=None,
            container_id=tenant.container_id,
            container_name=tenant.container_name,
            observed_generation=tenant.generation,
        )
        await session.commit()
    log.info("tenant_thawed", tenant=tenant.slug)
    return Outcome.RUNNING if ok else Outcome.STALE


async def wake_now(
    ctx: WorkerContext,
    tenant_id: uuid.UUID,
    *,
    timeout: float,
    actor: str,
    on_serving: Callable[[], None] | None = None,
) -> Outcome:
    """Wake a paused tenant on `actor`'s behalf, waiting for its lock.

    Used by the edge, which holds a user's request open: a converge (or a pause in
    flight) may hold the lock for a moment, so this retries until `timeout`.
    Returns BUSY when the lock never came free and FAILED when this could not wake
    it (the caller falls back to a converge task).
    """
    deadline = time.monotonic() + timeout
    while True:
        async with tenant_lock(ctx.engine, tenant_id) as owned:
            if owned:
                thawed = await thaw(ctx, tenant_id, actor=actor, on_serving=on_serving)
                if thawed is not None:
                    return thawed
                await request_wake(ctx, tenant_id, actor=actor)
                snap = await snapshot(ctx, tenant_id)
                if snap is None or snap.tenant.deleted_at is not None:
                    return Outcome.GONE
                if snap.tenant.desired_state != "running":
                    return Outcome.STALE
                if snap.tenant.state == "running":
                    return Outcome.RUNNING
                if snap.tenant.state != "paused":
                    return Outcome.FAILED
                return await wake_locked(ctx, snap) or Outcome.FAILED
        if time.monotonic() >= deadline:
            return Outcome.BUSY
        await asyncio.sleep(0.02)
