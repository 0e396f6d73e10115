"""The level-triggered reconciler: compare the engine with PostgreSQL, fix drift.

One list call to the engine per sweep and one query for desired state. Repairs of a
tenant are handed to converge tasks (idempotent), so a sweep never races a task.
On an unchanged world a sweep makes no mutating engine call and enqueues nothing.
It only inspects containers that may have started since Berth last accounted for
them (provisioner.restart_scan), to catch restarts whose events the watcher missed.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog

from controlplane.audit.service import record
from controlplane.incidents import service as incidents
from controlplane.incidents.repository import IncidentRepository
from controlplane.models import Tenant
from controlplane.models.base import utcnow
from controlplane.rollouts.repository import RolloutRepository
from controlplane.tenants.repository import TenantRepository
from provisioner.context import WorkerContext
from provisioner.locks import is_held, try_lock
from provisioner.power import PAUSED_STATES
from provisioner.restart_scan import may_have_restarted, recent_starts
from provisioner.runtime.base import ContainerInfo
from provisioner.spec import LABEL_BLUEPRINT, LABEL_GENERATION, LABEL_INSTANCE, LABEL_TENANT_ID

log = structlog.get_logger(__name__)

# A pending tenant younger than this still has its signup task in flight.
PENDING_GRACE = timedelta(seconds=5)
# Advisory-lock key for "a sweep is running" (tenant keys are derived from UUIDs).
SWEEP_LOCK = 0x62657274685F7277  # "berth_rw"
_UP_SECONDS = re.compile(r"^Up (\d+) seconds?")

Enqueue = Callable[[str, float], None]


@dataclass
class SweepResult:
    containers: int = 0
    tenants: int = 0
    enqueued: list[str] = field(default_factory=list)
    orphans: int = 0
    strays: int = 0
    missed_restarts: int = 0
    skipped: bool = False

    def as_dict(self) -> dict[str, int]:
        return {
            "containers": self.containers,
            "tenants": self.tenants,
            "enqueued": len(self.enqueued),
            "orphans": self.orphans,
            "strays": self.strays,
            "missed_restarts": self.missed_restarts,
            "skipped": int(self.skipped),
        }


def uptime_seconds(status: str) -> float | None:
    """Seconds of uptime from `docker ps` status text, when under a minute."""
    if status.startswith("Up Less than a second"):
        return 0.0
    match = _UP_SECONDS.match(status)
    return float(match.group(1)) if match else None


def _current(tenant: Tenant, mine: list[ContainerInfo]) -> ContainerInfo | None:
    for c in mine:
        if (
            c.labels.get(LABEL_GENERATION) == str(tenant.generation)
            and c.labels.get(LABEL_BLUEPRINT) == tenant.blueprint_version
        ):
            return c
    return None


async def reconcile(
    ctx: WorkerContext,
    *,
    enqueue: Enqueue,
    enqueue_rollout: Callable[[str], None] | None = None,
) -> SweepResult:
    """One sweep over every tenant and every Berth container of this instance.

    Sweeps never overlap: when one is still running (a slow engine, a big fleet), the
    next one is skipped rather than repeating its repairs.
    """
    async with try_lock(ctx.engine, SWEEP_LOCK) as got:
        if not got:
            return SweepResult(skipped=True)
        return await _sweep(ctx, enqueue=enqueue, enqueue_rollout=enqueue_rollout)


async def _sweep(
    ctx: WorkerContext,
    *,
    enqueue: Enqueue,
    enqueue_rollout: Callable[[str], None] | None,
) -> SweepResult:
    # List before querying: any container listed was created after its tenant row
    # was committed, so the query below sees that tenant and it is never an orphan.
    # "Now" is taken before the list: container uptimes are as of the list, and a later
    # clock would make freshly started containers look restarted (and be inspected).
    now = utcnow()
    containers = await asyncio.to_thread(ctx.backend.list, {LABEL_INSTANCE: ctx.settings.instance})
    async with ctx.sessionmaker() as session:
        tenants = await TenantRepository(session).all_live()
    by_tenant: dict[str, list[ContainerInfo]] = {}
    for info in containers:
        by_tenant.setdefault(info.labels.get(LABEL_TENANT_ID, ""), []).append(info)

    starts = await recent_starts(ctx, now.timestamp())
    result = SweepResult(containers=len(containers), tenants=len(tenants))
    busy_grace = timedelta(seconds=ctx.settings.provision_timeout + 15)
    to_inspect: list[tuple[Tenant, ContainerInfo]] = []
    for tenant in tenants:
        tid = str(tenant.id)
        mine = by_tenant.get(tid, [])
        age = now - tenant.state_changed_at
        delay: float | None = None
        if tenant.state == "pending":
            delay = 0.0 if age > PENDING_GRACE else None
        elif tenant.state in ("provisioning", "deleting"):
            # Only a live task holds the tenant's lock in these states; a free lock
            # means its worker died mid-way, so re-drive it now rather than waiting
            # for the broker to redeliver.
            if age > busy_grace or (
                age > PENDING_GRACE and not await is_held(ctx.engine, tenant.id)
            ):
                delay = 0.0
        elif tenant.desired_state == "paused" or tenant.state == "paused":
            delay = await _paused_delay(ctx, tenant, mine, age)
        elif tenant.state == "running" and tenant.desired_state == "running":
            current = _current(tenant, mine)
            if current is None or len(mine) > 1 or current.state == "paused":
                delay = 0.0  # missing, wrong version, an extra container, or frozen
            elif current.state in ("exited", "created", "dead"):
                delay = await _restart_delay(ctx, tenant)
            elif current.running and may_have_restarted(
                current, tenant.state_changed_at, now.timestamp(), starts
            ):
                to_inspect.append((tenant, current))
        if delay is not None:
            enqueue(tid, delay)
            result.enqueued.append(tenant.slug)

    for tenant, info in to_inspect:
        result.missed_restarts += await _account_restarts(ctx, tenant, info)

    if enqueue_rollout is not None:
        await _redrive_rollout(ctx, enqueue_rollout, result)

    live_ids = {str(t.id) for t in tenants}
    orphans = [c for c in containers if c.labels.get(LABEL_TENANT_ID, "") not in live_ids]
    if orphans:
        await _remove_orphans(ctx, orphans)
        result.orphans = len(orphans)
    result.strays = await _remove_strays(ctx)
    if result.enqueued or result.orphans or result.strays or result.missed_restarts:
        log.info("reconciled", **result.as_dict())
    return result


async def _paused_delay(
    ctx: WorkerContext, tenant: Tenant, mine: list[ContainerInfo], age: timedelta
) -> float | None:
    """Pausing or waking that nobody finishes, or a paused container someone thawed."""
    if tenant.state == "paused" and tenant.desired_state == "paused":
        current = _current(tenant, mine)
        extra = len(mine) > (1 if current else 0)
        thawed = current is not None and current.state not in PAUSED_STATES
        return 0.0 if extra or thawed else None
    if tenant.state in ("degraded", "deleting"):
        return None
    # Desired and observed disagree: a task is on it unless the lock is free.
    if age > PENDING_GRACE and not await is_held(ctx.engine, tenant.id):
        return 0.0
    return None


async def _redrive_rollout(
    ctx: WorkerContext, enqueue_rollout: Callable[[str], None], result: SweepResult
) -> None:
    """An active rollout nobody drives (its worker died) is handed to a worker again."""
    from provisioner.rollouts import rollout_driver_alive

    async with ctx.sessionmaker() as session:
        active = await RolloutRepository(session).active()
    if active is None:
        return
    age = utcnow() - active.created_at
    if age > PENDING_GRACE and not await rollout_driver_alive(ctx, active.id):
        enqueue_rollout(str(active.id))
        result.enqueued.append(f"rollout:{active.id}")


async def _restart_delay(ctx: WorkerContext, tenant: Tenant) -> float:
    async with ctx.sessionmaker() as session:
        since = utcnow() - timedelta(seconds=ctx.settings.crashloop_window)
        failures = await IncidentRepository(session).count_failures_since(tenant.id, since)
    return incidents.backoff_seconds(
        failures, base=ctx.settings.restart_backoff_base, cap=ctx.settings.restart_backoff_max
    )


async def _account_restarts(ctx: WorkerContext, tenant: Tenant, listed: ContainerInfo) -> int:
    """Record restarts the watcher missed (it was down, or the event was lost)."""
    info = await asyncio.to_thread(ctx.backend.inspect, listed.id)
    if info is None:
        return 0
    async with ctx.sessionmaker() as session:
        fresh = await TenantRepository(session).get(tenant.id, for_update=True)
        if fresh is None or info.restart_count <= fresh.observed_restarts:
            return 0
        missed = info.restart_count - fresh.observed_restarts
        kind = "oom" if info.oom_killed else "crash"
        await incidents.record_failure(
            session,
            tenant=fresh,
            kind=kind,
            container_id=info.id,
            exit_code=info.exit_code,
            restart_count=info.restart_count,
            source="reconciler",
        )
        fresh.observed_restarts = info.restart_count
        if info.health in (None, "healthy"):
            await incidents.resolve_recovered(session, tenant=fresh)
        await session.commit()
    return missed


async def _remove_orphans(ctx: WorkerContext, orphans: list[ContainerInfo]) -> None:
    await asyncio.to_thread(ctx.expect_stop, [c.id for c in orphans])
    await asyncio.gather(*(asyncio.to_thread(ctx.backend.remove, c.id) for c in orphans))
    removed = {
        f"container:{c.name}": {
            "tenant_id": c.labels.get(LABEL_TENANT_ID),
            "tenant": c.labels.get("berth.tenant"),
        }
        for c in orphans
    }
    await _audit_removals(ctx, "container.orphan_removed", removed)
    log.info("orphans_removed", count=len(orphans))


async def _audit_removals(
    ctx: WorkerContext, action: str, removed: Mapping[str, Mapping[str, Any] | None]
) -> None:
    """One audit record per removed container (target → detail), in one commit."""
    async with ctx.sessionmaker() as session:
        for target, detail in removed.items():
            record(
                session,
                actor="berth",
                action=action,
                target=target,
                detail=dict(detail) if detail else None,
            )
        await session.commit()


async def _remove_strays(ctx: WorkerContext) -> int:
    """End processes the engine runs outside its own bookkeeping (on Swarm: a task's
    container restarted by hand after Swarm replaced the task), so no tenant ever has
    two writers on its volume."""
    strays = await asyncio.to_thread(ctx.backend.strays, {LABEL_INSTANCE: ctx.settings.instance})
    if strays:
        log.warning("stray_containers", count=len(strays), ids=[s[:12] for s in strays])
        await asyncio.to_thread(ctx.expect_stop, strays)
        await asyncio.gather(*(asyncio.to_thread(ctx.backend.remove_stray, s) for s in strays))
        removed: dict[str, Mapping[str, Any] | None] = {f"container:{s[:12]}": None for s in strays}
        await _audit_removals(ctx, "container.stray_removed", removed)
    return len(strays)
