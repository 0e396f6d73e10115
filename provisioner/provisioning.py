"""Make one tenant's containers match its desired state. Idempotent.

converge() may run twice or concurrently for one tenant (redelivery, a retry, the
reconciler): a per-tenant advisory lock serialises them, and every write of
observed state is fenced by the tenant's generation.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from enum import StrEnum

import structlog

from controlplane.blueprints.repository import BlueprintRepository
from controlplane.models import Blueprint, Tenant
from controlplane.tenants.repository import TenantRepository
from provisioner.bluegreen import bring_up, matches, remove
from provisioner.context import WorkerContext
from provisioner.locks import tenant_lock
from provisioner.runtime.base import ContainerInfo, RuntimeBackendError
from provisioner.spec import LABEL_INSTANCE, LABEL_TENANT_ID, TenantSpecInput, volume_name

log = structlog.get_logger(__name__)


class Outcome(StrEnum):
    RUNNING = "running"
    FAILED = "failed"
    DELETED = "deleted"
    BUSY = "busy"  # another task holds the tenant; the caller retries later
    STALE = "stale"  # desired state changed mid-way; a newer task will finish
    GONE = "gone"
    HELD = "held"  # degraded (crash loop) or Docker is restarting it: hands off


@dataclass(frozen=True)
class Snapshot:
    tenant: Tenant
    blueprint: Blueprint
    secrets: dict[str, str]


async def _snapshot(ctx: WorkerContext, tenant_id: uuid.UUID) -> Snapshot | None:
    async with ctx.sessionmaker() as session:
        repo = TenantRepository(session)
        tenant = await repo.get(tenant_id)
        if tenant is None:
            return None
        blueprint = await BlueprintRepository(session).get(tenant.blueprint_version)
        assert blueprint is not None, "FK guarantees the blueprint exists"
        secrets = {s.name: ctx.box.decrypt(s.ciphertext) for s in await repo.secrets(tenant.id)}
        return Snapshot(tenant=tenant, blueprint=blueprint, secrets=secrets)


def _spec_input(ctx: WorkerContext, snap: Snapshot) -> TenantSpecInput:
    t, bp, s = snap.tenant, snap.blueprint, ctx.settings
    return TenantSpecInput(
        tenant_id=str(t.id),
        slug=t.slug,
        generation=t.generation,
        blueprint_version=bp.version,
        image=bp.image,
        port=bp.port,
        user=bp.user,
        cpu=t.cpu,
        memory_mb=t.memory_mb,
        pids=t.pids,
        blueprint_env=bp.default_env,
        tenant_env=t.env,
        secrets=snap.secrets,
        domain=s.domain,
        network=s.tenant_network,
        instance=s.instance,
        entrypoints=s.traefik_entrypoints,
        middlewares=s.traefik_middlewares,
    )


async def _set_observed(
    ctx: WorkerContext, tenant: Tenant, state: str, reason: str | None, **kw: object
) -> bool:
    async with ctx.sessionmaker() as session:
        ok = await TenantRepository(session).set_observed(
            tenant.id,
            generation=tenant.generation,
            state=state,
            reason=reason,
            **kw,  # type: ignore[arg-type]
        )
        await session.commit()
        return ok


async def _containers(ctx: WorkerContext, tenant_id: uuid.UUID) -> list[ContainerInfo]:
    labels = {LABEL_INSTANCE: ctx.settings.instance, LABEL_TENANT_ID: str(tenant_id)}
    return await asyncio.to_thread(ctx.backend.list, labels)


def _matches(info: ContainerInfo, tenant: Tenant) -> bool:
    return matches(info, generation=tenant.generation, version=tenant.blueprint_version)


async def converge(ctx: WorkerContext, tenant_id: uuid.UUID) -> Outcome:
    """Bring one tenant to its desired state and record what happened."""
    async with tenant_lock(ctx.engine, tenant_id) as owned:
        if not owned:
            return Outcome.BUSY
        snap = await _snapshot(ctx, tenant_id)
        if snap is None:
            return Outcome.GONE
        tenant = snap.tenant
        bound = log.bind(tenant=tenant.slug, generation=tenant.generation)
        if tenant.deleted_at is not None:
            # Deleted earlier: make sure nothing of it is left running.
            await remove(ctx, await _containers(ctx, tenant.id))
            return Outcome.GONE
        if tenant.desired_state == "deleted":
            return await _teardown(ctx, tenant)
        if tenant.state == "degraded":
            # A crash loop stops restarts until an operator asks for one.
            return Outcome.HELD
        try:
            return await _provision(ctx, snap, bound)
        except RuntimeBackendError as exc:
            bound.warning("provision_error", error=str(exc))
            await _set_observed(ctx, tenant, "failed", str(exc))
            return Outcome.FAILED


async def _provision(
    ctx: WorkerContext, snap: Snapshot, bound: structlog.typing.FilteringBoundLogger
) -> Outcome:
    tenant = snap.tenant
    existing = await _containers(ctx, tenant.id)
    current = [c for c in existing if _matches(c, tenant)]
    converged = tenant.state == "running" and tenant.observed_generation == tenant.generation
    if len(existing) == 1 and current and converged:
        if current[0].running:
            return Outcome.RUNNING  # already converged: no writes, no engine mutations
        if current[0].state == "restarting":
            return Outcome.HELD  # Docker's own restart policy is at work
    if tenant.state != "provisioning":
        if not await _set_observed(ctx, tenant, "provisioning", None):
            return Outcome.STALE
    result = await bring_up(ctx, _spec_input(ctx, snap), snap.blueprint, existing)
    if not result.healthy or result.info is None:
        serving = [c for c in result.survivors if c.running]
        reason = result.reason or "container did not become healthy"
        if serving:
            reason += f"; the previous container {serving[0].name} keeps serving"
        bound.warning("provision_failed", reason=reason)
        await _set_observed(ctx, tenant, "failed", reason)
        return Outcome.FAILED
    info = result.info
    ok = await _set_observed(
        ctx,
        tenant,
        "running",
        None,
        container_id=info.id,
        container_name=info.name,
        observed_generation=tenant.generation,
        observed_restarts=info.restart_count,
    )
    bound.info("tenant_running", container=info.name)
    return Outcome.RUNNING if ok else Outcome.STALE


async def _teardown(ctx: WorkerContext, tenant: Tenant) -> Outcome:
    await remove(ctx, await _containers(ctx, tenant.id))
    if not tenant.keep_data:
        await asyncio.to_thread(ctx.backend.remove_volume, volume_name(tenant.slug, str(tenant.id)))
    async with ctx.sessionmaker() as session:
        await TenantRepository(session).mark_deleted(tenant.id)
        await session.commit()
    log.info("tenant_deleted", tenant=tenant.slug, keep_data=tenant.keep_data)
    return Outcome.DELETED
