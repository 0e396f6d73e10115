"""Plan routes."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from controlplane.deps import ReadDep, SessionDep
from controlplane.plans.repository import PlanRepository

router = APIRouter(prefix="/plans", tags=["plans"])


class PlanOut(BaseModel):
    name: str
    cpu: float
    memory_mb: int
    pids: int
    max_cpu: float
    max_memory_mb: int
    max_pids: int


@router.get("", response_model=list[PlanOut])
async def list_plans(session: SessionDep, _: ReadDep) -> list[PlanOut]:
    """List plans with their default and maximum limits."""
    return [
        PlanOut(
            name=p.name,
            cpu=p.cpu,
            memory_mb=p.memory_mb,
            pids=p.pids,
            max_cpu=p.max_cpu,
            max_memory_mb=p.max_memory_mb,
            max_pids=p.max_pids,
        )
        for p in await PlanRepository(session).all()
    ]
