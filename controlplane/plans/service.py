"""Plan rules: resolving and bounding a tenant's limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.errors import InvalidInput, NotFound
from controlplane.models import Blueprint, Plan
from controlplane.plans.repository import PlanRepository
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
