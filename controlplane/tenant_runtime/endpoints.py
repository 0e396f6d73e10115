"""Routes a tenant container calls with its own runtime token (scope `runtime` only)."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from controlplane.deps import RuntimeDep, SessionDep
from controlplane.edge.service import Edge
from controlplane.models.base import utcnow
from controlplane.plans.service import require_plan
from controlplane.tenant_runtime.schemas import ActivityRecorded, RuntimeSelf
from controlplane.tenants.service import get_live

router = APIRouter(prefix="/runtime", tags=["runtime"])


@router.get("/self", response_model=RuntimeSelf)
async def runtime_self(session: SessionDep, principal: RuntimeDep) -> RuntimeSelf:
    """The calling tenant's own plan, version and state."""
    assert principal.slug is not None  # RuntimeDep admits runtime tokens only
    tenant = await get_live(session, slug=principal.slug)
    plan = await require_plan(session, name=tenant.plan)
    return RuntimeSelf(
        slug=tenant.slug,
        plan=tenant.plan,
        blueprint_version=tenant.blueprint_version,
        generation=tenant.generation,
        state=tenant.state,
        desired_state=tenant.desired_state,
        egress=plan.egress,
    )


@router.post("/activity", response_model=ActivityRecorded, status_code=status.HTTP_202_ACCEPTED)
async def runtime_activity(request: Request, principal: RuntimeDep) -> ActivityRecorded:
    """Report work the edge cannot see (background jobs): the idle sweep counts it."""
    assert principal.tenant_id is not None and principal.slug is not None
    edge: Edge = request.app.state.edge
    edge.activity.touch(str(principal.tenant_id))
    return ActivityRecorded(slug=principal.slug, recorded_at=utcnow())
