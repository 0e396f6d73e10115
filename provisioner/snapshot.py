"""A tenant as the provisioner sees it: its rows, its containers, its spec.

Shared by converge (provisioning.py) and pause/wake (power.py).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from enum import StrEnum

from controlplane.blueprints.repository import BlueprintRepository
from controlplane.models import Blueprint, Plan, Tenant
from controlplane.plans.repository import PlanRepository
from controlplane.sandbox import effective_runtime
from controlplane.tenants.repository import TenantRepository
from provisioner.bluegreen import matches
from provisioner.context import WorkerContext
from provisioner.egress import policy
from provisioner.runtime.base import ContainerInfo
from provisioner.spec import LABEL_INSTANCE, LABEL_TENANT_ID, TenantSpecInput


class Outcome(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
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
    plan: Plan
    secrets: dict[str, str]


async def snapshot(ctx: WorkerContext, tenant_id: uuid.UUID) -> Snapshot | None:
    async with ctx.sessionmaker() as session:
        repo = TenantRepository(session)
        tenant = await repo.get(tenant_id)
        if tenant is None:
            return None
        blueprint = await BlueprintRepository(session).get(tenant.blueprint_version)
        plan = await PlanRepository(session).get(tenant.plan)
        assert blueprint is not None and plan is not None, "FKs guarantee both exist"
        secrets = {s.name: ctx.box.decrypt(s.ciphertext) for s in await repo.secrets(tenant.id)}
        return Snapshot(tenant=tenant, blueprint=blueprint, plan=plan, secrets=secrets)


def spec_input(ctx: WorkerContext, snap: Snapshot) -> TenantSpecInput:
    t, bp, s = snap.tenant, snap.blueprint, ctx.settings
    egress = policy(snap.plan.egress, base_network=s.tenant_network)
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
        network=egress.network,
        instance=s.instance,
        entrypoints=s.traefik_entrypoints,
        middlewares=s.traefik_middlewares,
        network_internal=egress.internal,
        egress_env=egress.env,
        runtime=effective_runtime(plan_runtime=snap.plan.runtime, blueprint_runtime=bp.runtime),
        runtime_url=s.runtime_url,
        plan=t.plan,
    )


async def set_observed(
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


async def mark_running(ctx: WorkerContext, tenant: Tenant, info: ContainerInfo) -> Outcome:
    """Record that `info` serves the tenant's current generation (fenced)."""
    ok = await set_observed(
        ctx,
        tenant,
        "running",
        None,
        container_id=info.id,
        container_name=info.name,
        observed_generation=tenant.generation,
        observed_restarts=info.restart_count,
    )
    return Outcome.RUNNING if ok else Outcome.STALE


async def containers(ctx: WorkerContext, tenant_id: uuid.UUID) -> list[ContainerInfo]:
    labels = {LABEL_INSTANCE: ctx.settings.instance, LABEL_TENANT_ID: str(tenant_id)}
    return await asyncio.to_thread(ctx.backend.list, labels)


def is_current(info: ContainerInfo, tenant: Tenant) -> bool:
    return matches(info, generation=tenant.generation, version=tenant.blueprint_version)
