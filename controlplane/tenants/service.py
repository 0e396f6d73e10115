"""Tenant rules. Services never commit: the request's session does, then enqueues."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.audit.service import record
from controlplane.blueprints.repository import BlueprintRepository
from controlplane.context import CONVERGE_TASK, Actor
from controlplane.db import pending_jobs
from controlplane.errors import Conflict, InvalidInput, NotFound
from controlplane.incidents import service as incidents
from controlplane.incidents.repository import IncidentRepository
from controlplane.models import Blueprint, Incident, Plan, Tenant, TenantSecret
from controlplane.models.base import utcnow
from controlplane.plans.service import get_plan, resolve_limits
from controlplane.sandbox import EngineRuntimes, effective_runtime, require_runtime
from controlplane.security.crypto import SecretBox
from controlplane.tenants.repository import TenantRepository
from controlplane.tenants.schemas import TenantCreate, TenantUpdate
from controlplane.validation import Limits


def _audit(
    session: AsyncSession, actor: Actor, action: str, slug: str, detail: dict[str, Any]
) -> None:
    record(
        session,
        actor=actor.key_id,
        request_id=actor.request_id,
        action=action,
        target=f"tenant:{slug}",
        detail=detail,
    )


def _converge(session: AsyncSession, tenant: Tenant) -> None:
    pending_jobs(session).add(CONVERGE_TASK, str(tenant.id))


async def _blueprint_for_signup(session: AsyncSession, version: str | None) -> Blueprint:
    repo = BlueprintRepository(session)
    if version is not None:
        blueprint = await repo.get(version)
        if blueprint is None:
            raise InvalidInput(f"unknown blueprint version '{version}'", field="blueprint_version")
        return blueprint
    current = await repo.current()
    if current is None:
        raise Conflict("no blueprint is registered yet; POST /blueprints first")
    return current


def _check_no_overlap(env: dict[str, str], secret_names: Sequence[str]) -> None:
    for name in secret_names:
        if name in env:
            raise InvalidInput(
                f"'{name}' is both an env variable and a secret", field=f"env.{name}"
            )


async def signup(
    session: AsyncSession,
    *,
    actor: Actor,
    data: TenantCreate,
    box: SecretBox,
    default_plan: str,
    runtimes: EngineRuntimes | None = None,
) -> Tenant:
    """Create a tenant and queue its provisioning. A taken slug is a 409; a runtime
    its plan or blueprint asks for and the engine lacks is a 422."""
    repo = TenantRepository(session)
    existing = await repo.get_live(data.slug)
    if existing is not None:
        raise Conflict(f"slug '{data.slug}' is taken", field="slug")
    plan = await get_plan(session, name=data.plan or default_plan)
    blueprint = await _blueprint_for_signup(session, data.blueprint_version)
    limits = resolve_limits(plan=plan, blueprint=blueprint, requested=data.limits)
    _check_no_overlap(data.env, list(data.secrets))
    await _check_runtime(plan, blueprint, runtimes)

    tenant = Tenant(
        id=uuid.uuid4(),
        slug=data.slug,
        plan=plan.name,
        blueprint_version=blueprint.version,
        env=dict(data.env),
        cpu=limits.cpu,
        memory_mb=limits.memory_mb,
        pids=limits.pids,
        desired_state="running",
        keep_data=False,
        generation=1,
        state="pending",
        observed_generation=0,
    )
    repo.add(tenant)
    try:
        # Flush now so a racing signup for the same slug surfaces as a 409 here,
        # not as a failed commit after the endpoint has returned.
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"slug '{data.slug}' is taken", field="slug") from exc
    for name, value in data.secrets.items():
        repo.add(TenantSecret(tenant_id=tenant.id, name=name, ciphertext=box.encrypt(value)))
    _audit(
        session,
        actor,
        "tenant.signup",
        tenant.slug,
        {"plan": plan.name, "blueprint": blueprint.version, "secrets": sorted(data.secrets)},
    )
    _converge(session, tenant)
    return tenant


async def get_live(session: AsyncSession, *, slug: str, for_update: bool = False) -> Tenant:
    tenant = await TenantRepository(session).get_live(slug, for_update=for_update)
    if tenant is None:
        raise NotFound(f"tenant '{slug}' not found")
    return tenant


async def _get_mutable(session: AsyncSession, slug: str) -> Tenant:
    tenant = await get_live(session, slug=slug, for_update=True)
    if tenant.desired_state == "deleted":
        raise Conflict(f"tenant '{slug}' is being deleted")
    return tenant


def _bump(tenant: Tenant, reason: str = "configuration changed") -> None:
    tenant.generation += 1
    if tenant.state in ("running", "failed", "degraded"):
        _set_state(tenant, "pending", reason)


def _set_state(tenant: Tenant, state: str, reason: str | None) -> None:
    tenant.state = state
    tenant.state_reason = reason
    tenant.state_changed_at = utcnow()


async def _check_runtime(plan: Plan, blueprint: Blueprint, runtimes: EngineRuntimes | None) -> None:
    runtime = effective_runtime(plan_runtime=plan.runtime, blueprint_runtime=blueprint.runtime)
    field = "plan" if runtime is not None and runtime == plan.runtime else "blueprint_version"
    await require_runtime(runtime, engine=runtimes, field=field)


async def update(
    session: AsyncSession,
    *,
    actor: Actor,
    slug: str,
    data: TenantUpdate,
    runtimes: EngineRuntimes | None = None,
) -> Tenant:
    """Change plan, env or limits; the container is recreated with them."""
    tenant = await _get_mutable(session, slug)
    changed: list[str] = []
    if data.plan is not None or data.limits is not None:
        plan = await get_plan(session, name=data.plan or tenant.plan)
        blueprint = await BlueprintRepository(session).get(tenant.blueprint_version)
        assert blueprint is not None
        requested = data.limits
        if requested is not None and data.plan in (None, tenant.plan):
            # A limits-only change keeps the limits it does not name.
            requested = Limits(
                cpu=requested.cpu if requested.cpu is not None else tenant.cpu,
                memory_mb=(
                    requested.memory_mb if requested.memory_mb is not None else tenant.memory_mb
                ),
                pids=requested.pids if requested.pids is not None else tenant.pids,
            )
        limits = resolve_limits(plan=plan, blueprint=blueprint, requested=requested)
        if plan.name != tenant.plan:
            await _check_runtime(plan, blueprint, runtimes)
            tenant.plan = plan.name
            changed.append("plan")
        if (limits.cpu, limits.memory_mb, limits.pids) != (
            tenant.cpu,
            tenant.memory_mb,
            tenant.pids,
        ):
            tenant.cpu, tenant.memory_mb, tenant.pids = limits.cpu, limits.memory_mb, limits.pids
            changed.append("limits")
    if data.env is not None and data.env != tenant.env:
        _check_no_overlap(data.env, await TenantRepository(session).secret_names(tenant.id))
        tenant.env = dict(data.env)
        changed.append("env")
    if "pinned_version" in data.model_fields_set and data.pinned_version != tenant.pinned_version:
        if data.pinned_version is not None and (
            await BlueprintRepository(session).get(data.pinned_version) is None
        ):
            raise InvalidInput(
                f"unknown blueprint version '{data.pinned_version}'", field="pinned_version"
            )
        # A pin is a rollout rule, not a container change: no recreate.
        tenant.pinned_version = data.pinned_version
        _audit(session, actor, "tenant.pin", slug, {"pinned_version": data.pinned_version})
    if changed:
        _bump(tenant)
        _audit(session, actor, "tenant.update", slug, {"changed": changed})
        _converge(session, tenant)
    return tenant


async def delete(session: AsyncSession, *, actor: Actor, slug: str, keep_data: bool) -> Tenant:
    """Mark the tenant for deletion; the worker removes its container (and volume)."""
    tenant = await get_live(session, slug=slug, for_update=True)
    tenant.desired_state = "deleted"
    tenant.keep_data = keep_data
    _set_state(tenant, "deleting", None)
    _audit(session, actor, "tenant.delete", slug, {"keep_data": keep_data})
    _converge(session, tenant)
    return tenant


async def list_page(
    session: AsyncSession,
    *,
    limit: int,
    state: str | None,
    after: tuple[datetime, uuid.UUID] | None,
) -> Sequence[Tenant]:
    return await TenantRepository(session).page(limit=limit, state=state, after=after)


async def secret_names(
    session: AsyncSession, *, tenants: Sequence[Tenant]
) -> dict[uuid.UUID, list[str]]:
    return await TenantRepository(session).secret_names_for([t.id for t in tenants])


async def last_incidents(
    session: AsyncSession, *, tenants: Sequence[Tenant]
) -> dict[uuid.UUID, Incident]:
    return await IncidentRepository(session).last_for([t.id for t in tenants])


async def list_secrets(session: AsyncSession, *, slug: str) -> Sequence[TenantSecret]:
    tenant = await get_live(session, slug=slug)
    return await TenantRepository(session).secrets(tenant.id)


async def put_secret(
    session: AsyncSession, *, actor: Actor, slug: str, name: str, value: str, box: SecretBox
) -> TenantSecret:
    """Create or replace a secret; the container is recreated to receive it."""
    tenant = await _get_mutable(session, slug)
    if name in tenant.env:
        raise InvalidInput(f"'{name}' is already an env variable", field="name")
    repo = TenantRepository(session)
    secret = await repo.secret(tenant.id, name)
    if secret is None:
        secret = TenantSecret(tenant_id=tenant.id, name=name, ciphertext=box.encrypt(value))
        repo.add(secret)
    else:
        secret.ciphertext = box.encrypt(value)
        secret.updated_at = utcnow()
    _bump(tenant)
    _audit(session, actor, "secret.put", slug, {"name": name})
    _converge(session, tenant)
    await session.flush()
    return secret


async def delete_secret(session: AsyncSession, *, actor: Actor, slug: str, name: str) -> None:
    tenant = await _get_mutable(session, slug)
    repo = TenantRepository(session)
    secret = await repo.secret(tenant.id, name)
    if secret is None:
        raise NotFound(f"secret '{name}' not found")
    await repo.delete_secret(secret)
    _bump(tenant)
    _audit(session, actor, "secret.delete", slug, {"name": name})
    _converge(session, tenant)


async def restart(session: AsyncSession, *, actor: Actor, slug: str) -> Tenant:
    """Recreate the tenant's container (same spec, same data); lifts a crash loop."""
    tenant = await _get_mutable(session, slug)
    was = tenant.state
    _bump(tenant, "restart requested")
    tenant.observed_restarts = 0
    await incidents.resolve_crash_loop(session, tenant=tenant)
    _audit(session, actor, "tenant.restart", slug, {"from_state": was})
    _converge(session, tenant)
    return tenant


async def pause(
    session: AsyncSession, *, actor: Actor, slug: str, freeze_supported: bool = True
) -> Tenant:
    """Desire `paused`. Pausing a paused tenant is a no-op; only a running one can be.

    Without a freezer (the Swarm runtime) a plan that pauses by freezing is refused.
    """
    tenant = await _get_mutable(session, slug)
    if tenant.desired_state == "paused":
        return tenant
    if not freeze_supported and (await get_plan(session, name=tenant.plan)).pause_mode == "freeze":
        raise Conflict(
            f"plan '{tenant.plan}' pauses by freezing, which the Swarm runtime does not "
            "support; set the plan's pause_mode to 'stop'",
            field="pause_mode",
        )
    if tenant.state != "running":
        raise Conflict(
            f"tenant '{slug}' is {tenant.state}; only a running tenant can be paused",
            field="state",
        )
    tenant.desired_state = "paused"
    _audit(session, actor, "tenant.pause", slug, {"reason": "requested"})
    _converge(session, tenant)
    return tenant


async def resume(session: AsyncSession, *, actor: Actor, slug: str) -> Tenant:
    """Desire `running` again. Resuming a tenant that is not paused is a no-op."""
    tenant = await _get_mutable(session, slug)
    if tenant.desired_state != "paused":
        return tenant
    tenant.desired_state = "running"
    tenant.last_active_at = utcnow()
    _audit(session, actor, "tenant.resume", slug, {"reason": "requested"})
    _converge(session, tenant)
    return tenant
