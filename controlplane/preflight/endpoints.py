"""GET /security/preflight: the hardening report."""

from __future__ import annotations

from fastapi import APIRouter, Request

from controlplane.deps import AdminDep, SettingsDep
from controlplane.preflight import service
from controlplane.preflight.schemas import PreflightReport

router = APIRouter(prefix="/security", tags=["security"])


@router.get("/preflight", response_model=PreflightReport)
async def preflight(request: Request, settings: SettingsDep, _: AdminDep) -> PreflightReport:
    """Every tenant container against the hardening list, Berth's posture, the daemon."""
    return await service.run(
        settings=settings,
        backend=request.app.state.backend,
        engine=request.app.state.engine,
        admin_token=request.app.state.admin_token,
    )
