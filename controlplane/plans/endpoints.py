"""Plan routes."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request, status

from controlplane.deps import AdminDep, ReadDep, SessionDep, actor_of
from controlplane.models import Plan
from controlplane.plans import service
from controlplane.plans.schemas import PlanCreate, PlanOut, PlanUpdate

router = APIRouter(prefix="/plans", tags=["plans"])


def to_out(p: Plan) -> PlanOut:
    return PlanOut(
        name=p.name,
        cpu=p.cpu,
        memory_mb=p.memory_mb,
        pids=p.pids,
        max_cpu=p.max_cpu,
        max_memory_mb=p.max_memory_mb,
        max_pids=p.max_pids,
        idle_after=p.idle_after,
        pause_mode=p.pause_mode,
        price_active_cents=p.price_active_cents,
        price_paused_cents=p.price_paused_cents,
        currency=p.currency,
        egress=p.egress,
        runtime=p.runtime,
    )


@router.get("", response_model=list[PlanOut])
async def list_plans(session: SessionDep, _: ReadDep) -> list[PlanOut]:
    """List plans with their limits, idle policy and prices."""
    return [to_out(p) for p in await service.list_plans(session)]


@router.get("/{name}", response_model=PlanOut)
async def get_plan(session: SessionDep, _: ReadDep, name: str = Path(max_length=32)) -> PlanOut:
    """One plan."""
    return to_out(await service.require_plan(session, name=name))


@router.post("", response_model=PlanOut, status_code=status.HTTP_201_CREATED)
async def create_plan(
    body: PlanCreate, session: SessionDep, principal: AdminDep, request: Request
) -> PlanOut:
    """Create a plan. A taken name is a 409."""
    plan = await service.create(
        session,
        actor=actor_of(principal, request),
        data=body,
        runtimes=request.app.state.runtimes,
    )
    return to_out(plan)


@router.patch("/{name}", response_model=PlanOut)
async def update_plan(
    body: PlanUpdate,
    session: SessionDep,
    principal: AdminDep,
    request: Request,
    name: str = Path(max_length=32),
) -> PlanOut:
    """Change a plan. New prices apply from now on: past usage keeps the old ones."""
    plan = await service.update(
        session,
        actor=actor_of(principal, request),
        name=name,
        data=body,
        runtimes=request.app.state.runtimes,
    )
    return to_out(plan)
