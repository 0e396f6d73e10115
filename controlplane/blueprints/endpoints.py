"""Blueprint routes."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from controlplane.blueprints import service
from controlplane.blueprints.schemas import BlueprintCreate, BlueprintOut
from controlplane.deps import DeployDep, ReadDep, SessionDep, actor_of
from controlplane.models import Blueprint

router = APIRouter(prefix="/blueprints", tags=["blueprints"])


def to_out(bp: Blueprint) -> BlueprintOut:
    return BlueprintOut(
        version=bp.version,
        image=bp.image,
        port=bp.port,
        health_path=bp.health_path,
        user=bp.user,
        default_env=bp.default_env,
        default_limits=bp.default_limits,
        is_current=bp.is_current,
        runtime=bp.runtime,
        created_at=bp.created_at,
    )


@router.post("", response_model=BlueprintOut, status_code=status.HTTP_201_CREATED)
async def register(
    body: BlueprintCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: DeployDep,
) -> BlueprintOut:
    """Register a blueprint version (image, port, health path, defaults)."""
    bp = await service.register(
        session,
        actor=actor_of(principal, request),
        data=body,
        runtimes=request.app.state.runtimes,
    )
    await session.refresh(bp)
    response.headers["Location"] = f"/blueprints/{bp.version}"
    return to_out(bp)


@router.get("", response_model=list[BlueprintOut])
async def list_blueprints(session: SessionDep, _: ReadDep) -> list[BlueprintOut]:
    """List blueprint versions, oldest first."""
    return [to_out(bp) for bp in await service.list_all(session)]
