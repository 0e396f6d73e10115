"""Plan rules: creating and changing plans, resolving and bounding a tenant's limits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.audit.service import record
from controlplane.context import Actor
from controlplane.errors import Conflict, InvalidInput, NotFound
from controlplane.models import Blueprint, Plan
from controlplane.plans.repository import PlanRepository
from controlplane.plans.schemas import PlanCreate, PlanUpdate
from controlplane.sandbox import EngineRuntimes, require_runtime
from controlplane.validation import Limits


@dataclass(frozen=True)
class ResolvedLimits:
    cpu: float
    memory_mb: int
    pids: int


async def get_plan(session: AsyncSession, *, name: str, field: str = "plan") -> Plan:
    plan = await PlanRepository(session).get(name)
    if plan is None:
        raise InvalidInput(f"unknown plan '{name}'", field=field)
    return plan


async def require_plan(session: AsyncSession, *, name: str) -> Plan:
    plan = await PlanRepository(session).get(name)
    if plan is None:
        raise NotFound(f"plan '{name}' not found")
    return plan


def resolve_limits(*, plan: Plan, blueprint: Blueprint, requested: Limits | None) -> ResolvedLimits:
    """Requested limits, else the blueprint's defaults, else the plan's; bounded by the plan."""
    bp: dict[str, Any] = blueprint.default_limits or {}
    req = requested or Limits()
    cpu = req.cpu if req.cpu is not None else min(float(bp.get("cpu", plan.cpu)), plan.max_cpu)
    memory = (
        req.memory_mb
        if req.memory_mb is not None
        else min(int(bp.get("memory_mb", plan.memory_mb)), plan.max_memory_mb)
    )
    pids = req.pids if req.pids is not None else min(int(bp.get("pids", plan.pids)), plan.max_pids)
    if cpu > plan.max_cpu:
        raise InvalidInput(
            f"cpu {cpu} exceeds plan '{plan.name}' maximum {plan.max_cpu}", field="limits.cpu"
        )
    if memory > plan.max_memory_mb:
        raise InvalidInput(
            f"memory_mb {memory} exceeds plan '{plan.name}' maximum {plan.max_memory_mb}",
            field="limits.memory_mb",
        )
    if pids > plan.max_pids:
        raise InvalidInput(
            f"pids {pids} exceeds plan '{plan.name}' maximum {plan.max_pids}", field="limits.pids"
        )
    return ResolvedLimits(cpu=cpu, memory_mb=memory, pids=pids)


async def list_plans(session: AsyncSession) -> Sequence[Plan]:
    return await PlanRepository(session).all()


def _check_bounds(plan: Plan) -> None:
    for default, most in (("cpu", "max_cpu"), ("memory_mb", "max_memory_mb"), ("pids", "max_pids")):
        if getattr(plan, default) > getattr(plan, most):
            raise InvalidInput(
                f"{default} {getattr(plan, default)} exceeds {most} {getattr(plan, most)}",
                field=default,
            )


def _check_pause_mode(mode: str | None, runtimes: EngineRuntimes | None) -> None:
    """Refuse a plan that could never pause as it says (the same 409 a pause would get
    later, but now, while the operator is choosing)."""
    if mode == "freeze" and runtimes is not None and not runtimes.freeze_supported:
        raise Conflict(
            "pause mode 'freeze' is not supported on the Swarm runtime (a service has no "
            "freezer); use 'stop'",
            field="pause_mode",
        )


def _check_egress(mode: str | None, runtimes: EngineRuntimes | None) -> None:
    """Refuse a plan whose tenants could never be health-checked, before any signs up."""
    if mode == "none" and runtimes is not None and not runtimes.sealed_egress_supported:
        raise Conflict(
            "egress 'none' is not supported with BERTH_SWARM_PROBE=gateway: the node's "
            "host cannot reach a task on an internal overlay to health-check it; run the "
            "worker on the tenants overlays (BERTH_SWARM_PROBE=overlay)",
            field="egress",
        )


async def create(
    session: AsyncSession,
    *,
    actor: Actor,
    data: PlanCreate,
    runtimes: EngineRuntimes | None = None,
) -> Plan:
    """Add a plan; its name must be free, its runtime (if any) offered by the engine."""
    await require_runtime(data.runtime, engine=runtimes, field="runtime")
    _check_pause_mode(data.pause_mode, runtimes)
    _check_egress(data.egress, runtimes)
    repo = PlanRepository(session)
    if await repo.get(data.name, for_update=True) is not None:
        raise Conflict(f"plan '{data.name}' exists", field="name")
    plan = Plan(**data.model_dump())
    _check_bounds(plan)
    repo.add(plan)
    record(
        session,
        actor=actor.key_id,
        request_id=actor.request_id,
        action="plan.create",
        target=f"plan:{plan.name}",
        detail=data.model_dump(),
    )
    await session.flush()
    return plan


async def update(
    session: AsyncSession,
    *,
    actor: Actor,
    name: str,
    data: PlanUpdate,
    runtimes: EngineRuntimes | None = None,
) -> Plan:
    """Change a plan. Limits of existing tenants stay as they are (they were valid
    when set); new prices re-price their open usage intervals from now on. A new
    egress mode or runtime applies to each tenant's next container (recreate)."""
    plan = await PlanRepository(session).get(name, for_update=True)
    if plan is None:
        raise NotFound(f"plan '{name}' not found")
    changes = data.model_dump(exclude_unset=True)
    if changes.get("pause_mode", "") is None:
        raise InvalidInput("pause_mode must be 'freeze' or 'stop'", field="pause_mode")
    await require_runtime(changes.get("runtime"), engine=runtimes, field="runtime")
    _check_pause_mode(changes.get("pause_mode"), runtimes)
    _check_egress(changes.get("egress"), runtimes)
    for field, value in changes.items():
        if value is None and field not in ("idle_after", "runtime"):
            raise InvalidInput(f"{field} cannot be null", field=field)
        setattr(plan, field, value)
    _check_bounds(plan)
    record(
        session,
        actor=actor.key_id,
        request_id=actor.request_id,
        action="plan.update",
        target=f"plan:{name}",
        detail=changes,
    )
    await session.flush()
    return plan
