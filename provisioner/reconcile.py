"""The level-triggered reconciler: compare the engine with PostgreSQL, fix drift.

One list call to the engine per sweep, one query for desired state; per-tenant
repairs are handed to converge tasks, which are idempotent. On an unchanged world a
sweep makes no mutating engine call and enqueues nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import structlog

from controlplane.audit.service import record
from controlplane.models.base import utcnow
from controlplane.tenants.repository import TenantRepository
from provisioner.context import WorkerContext
from provisioner.spec import LABEL_GENERATION, LABEL_INSTANCE, LABEL_TENANT_ID

log = structlog.get_logger(__name__)

# A pending tenant younger than this still has its signup task in flight.
PENDING_GRACE = timedelta(seconds=5)


async def reconcile(ctx: WorkerContext, *, enqueue: Callable[[str], None]) -> dict[str, int]:
    """One sweep. Returns counts of what it found and did."""
    # List before querying: any container listed was created after its tenant row
    # was committed, so the query below sees that tenant and it is never an orphan.
    containers = await asyncio.to_thread(ctx.backend.list, {LABEL_INSTANCE: ctx.settings.instance})
    async with ctx.sessionmaker() as session:
        tenants = await TenantRepository(session).all_live()
    by_tenant: dict[str, list[object]] = {}
    for info in containers:
        by_tenant.setdefault(info.labels.get(LABEL_TENANT_ID, ""), []).append(info)

    now = utcnow()
    busy_grace = timedelta(seconds=ctx.settings.provision_timeout + 15)
    counts = {"containers": len(containers), "tenants": len(tenants), "enqueued": 0, "orphans": 0}
    live_ids = set()
    for tenant in tenants:
        tid = str(tenant.id)
        live_ids.add(tid)
        mine = [c for c in containers if c.labels.get(LABEL_TENANT_ID) == tid]
        age = now - tenant.state_changed_at
        needs = False
        if tenant.state == "pending":
            needs = age > PENDING_GRACE
        elif tenant.state in ("provisioning", "deleting"):
            needs = age > busy_grace
        elif tenant.state == "running" and tenant.desired_state == "running":
            healthy = [
                c
                for c in mine
                if c.running and c.labels.get(LABEL_GENERATION) == str(tenant.generation)
            ]
            needs = not healthy
        if needs:
            enqueue(tid)
            counts["enqueued"] += 1

    orphans = [c for c in containers if c.labels.get(LABEL_TENANT_ID, "") not in live_ids]
    if orphans:
        await asyncio.gather(*(asyncio.to_thread(ctx.backend.remove, c.id) for c in orphans))
        async with ctx.sessionmaker() as session:
            for c in orphans:
                record(
                    session,
                    actor="berth",
                    action="container.orphan_removed",
                    target=f"container:{c.name}",
                    detail={"tenant_id": c.labels.get(LABEL_TENANT_ID)},
                )
            await session.commit()
        counts["orphans"] = len(orphans)
        log.info("orphans_removed", count=len(orphans))
    return counts
