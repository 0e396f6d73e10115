"""Make one tenant's containers match its desired state. Idempotent.

converge() may run twice or concurrently for one tenant (redelivery, a retry, the
reconciler): a per-tenant advisory lock serialises them, and every write of
observed state is fenced by the tenant's generation.
"""

from __future__ import annotations

import asyncio
import uuid

import structlog

from controlplane.models import Tenant
from controlplane.tenant_runtime import service as runtime_tokens
from controlplane.tenants.repository import TenantRepository
from provisioner import power
from provisioner.bluegreen import bring_up, remove
from provisioner.context import WorkerContext
from provisioner.locks import tenant_lock
from provisioner.runtime.base import RuntimeBackendError
from provisioner.snapshot import (
    Outcome,
    Snapshot,
    containers,
    is_current,
    mark_running,
    set_observed,
    snapshot,
    spec_input,
)
from provisioner.spec import volume_name

__all__ = ["Outcome", "converge"]

log = structlog.get_logger(__name__)


async def converge(ctx: WorkerContext, tenant_id: uuid.UUID) -> Outcome:
    """Bring one tenant to its desired state and record what happened."""
    async with tenant_lock(ctx.engine, tenant_id) as owned:
        if not owned:
            return Outcome.BUSY
        snap = await snapshot(ctx, tenant_id)
        if snap is None:
            return Outcome.GONE
        tenant = snap.tenant
        bound = log.bind(tenant=tenant.slug, generation=tenant.generation)
        if tenant.deleted_at is not None:
            # Deleted earlier: make sure nothing of it is left running.
            await remove(ctx, await containers(ctx, tenant.id))
            return Outcome.GONE
        if tenant.desired_state == "deleted":
            return await _teardown(ctx, tenant)
        if tenant.state == "degraded":
            # A crash loop stops restarts until an operator asks for one.
            return Outcome.HELD
        try:
            if tenant.desired_state == "paused":
                return await power.pause_locked(ctx, snap)
            if tenant.state == "paused":
                woken = await power.thaw(ctx, tenant.id) or await power.wake_locked(ctx, snap)
                if woken is not None:
                    return woken
            return await _provision(ctx, snap, bound)
        except RuntimeBackendError as exc:
            bound.warning("provision_error", error=str(exc))
            await set_observed(ctx, tenant, "failed", str(exc))
            return Outcome.FAILED


async def _provision(
    ctx: WorkerContext, snap: Snapshot, bound: structlog.typing.FilteringBoundLogger
) -> Outcome:
    tenant = snap.tenant
    existing = await containers(ctx, tenant.id)
    current = [c for c in existing if is_current(c, tenant)]
    converged = tenant.state == "running" and tenant.observed_generation == tenant.generation
    if len(existing) == 1 and current and converged:
        if current[0].running:
            return Outcome.RUNNING  # already converged: no writes, no engine mutations
        if current[0].state == "restarting":
            return Outcome.HELD  # Docker's own restart policy is at work
    if tenant.state != "provisioning":
        # With nothing serving, drop the recorded container: the usage ledger then
        # stops billing from this moment, not from when the replacement is healthy.
        anything_up = any(c.running for c in existing)
        if not await set_observed(
            ctx, tenant, "provisioning", None, clear_container=not anything_up
        ):
            return Outcome.STALE
    result = await bring_up(ctx, spec_input(ctx, snap), snap.blueprint, existing)
    if not result.healthy or result.info is None:
        serving = [c for c in result.survivors if c.running]
        reason = result.reason or "container did not become healthy"
        if serving:
            reason += f"; the previous container {serving[0].name} keeps serving"
        bound.warning("provision_failed", reason=reason)
        await set_observed(ctx, tenant, "failed", reason)
        return Outcome.FAILED
    info = result.info
    outcome = await mark_running(ctx, tenant, info)
    bound.info("tenant_running", container=info.name)
    return outcome


async def _teardown(ctx: WorkerContext, tenant: Tenant) -> Outcome:
    await remove(ctx, await containers(ctx, tenant.id))
    if not tenant.keep_data:
        await asyncio.to_thread(ctx.backend.remove_volume, volume_name(tenant.slug, str(tenant.id)))
    async with ctx.sessionmaker() as session:
        await runtime_tokens.revoke_all(session, tenant_id=tenant.id)
        await TenantRepository(session).mark_deleted(tenant.id)
        await session.commit()
    log.info("tenant_deleted", tenant=tenant.slug, keep_data=tenant.keep_data)
    return Outcome.DELETED
