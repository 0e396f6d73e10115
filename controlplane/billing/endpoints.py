"""Billing routes: the usage ledger and the monthly export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel

from controlplane.billing import service
from controlplane.billing.repository import BillingRepository
from controlplane.deps import BillingReadDep, SessionDep
from controlplane.tenants.service import get_live

router = APIRouter(tags=["billing"])


class UsageEntryOut(BaseModel):
    seq: int
    at: datetime
    state: str
    plan: str
    cpu: float
    memory_mb: int
    price_cents_per_hour: int
    currency: str


@router.get("/billing/export")
async def export(
    session: SessionDep,
    _: BillingReadDep,
    period: Annotated[str, Query(max_length=7, description="YYYY-MM (UTC)")],
    format: Annotated[str, Query(max_length=8)] = "json",  # noqa: A002 - the API's name
) -> Response:
    """One row per tenant for the month, with totals. The current month is provisional;
    a closed month is frozen the first time it is exported and never changes after."""
    body, media_type = await service.export(session, period=period, fmt=format)
    filename = f"berth-billing-{period}.{format}"
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/tenants/{slug}/usage", response_model=list[UsageEntryOut])
async def tenant_usage(
    session: SessionDep,
    _: BillingReadDep,
    slug: Annotated[str, Path(max_length=32, pattern=r"^[a-z][a-z0-9-]*$")],
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[UsageEntryOut]:
    """The tenant's ledger, oldest first: each entry lasts until the next one."""
    tenant = await get_live(session, slug=slug)
    entries = await BillingRepository(session).entries_for_tenant(tenant.id, limit)
    return [
        UsageEntryOut(
            seq=e.seq,
            at=e.at,
            state=e.state,
            plan=e.plan,
            cpu=e.cpu,
            memory_mb=e.memory_mb,
            price_cents_per_hour=e.price_cents_per_hour,
            currency=e.currency,
        )
        for e in entries
    ]
