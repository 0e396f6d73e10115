"""GET /audit: the audit log, newest first (admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from controlplane.audit.repository import AuditRepository
from controlplane.deps import AdminDep, SessionDep
from controlplane.errors import InvalidInput

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    key_id: str
    action: str
    target: str
    outcome: str
    request_id: str | None
    detail: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None


@router.get("", response_model=AuditPage)
async def list_audit_events(
    session: SessionDep,
    _: AdminDep,
    action: Annotated[str | None, Query(max_length=64)] = None,
    target: Annotated[str | None, Query(max_length=128)] = None,
    key_id: Annotated[str | None, Query(max_length=64)] = None,
    outcome: Annotated[str | None, Query(max_length=16)] = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
) -> AuditPage:
    """Who changed what: filter by action, target, key id, outcome and time."""
    before = None
    if cursor is not None:
        if not cursor.isdigit():
            raise InvalidInput("malformed cursor", field="cursor")
        before = int(cursor)
    rows = await AuditRepository(session).page(
        limit=limit,
        action=action,
        target=target,
        actor=key_id,
        outcome=outcome,
        since=since,
        before_id=before,
    )
    items = [
        AuditEventOut(
            id=e.id,
            at=e.at,
            key_id=e.actor,
            action=e.action,
            target=e.target,
            outcome=e.outcome,
            request_id=e.request_id,
            detail=e.detail,
        )
        for e in rows
    ]
    next_cursor = str(rows[-1].id) if len(rows) == limit else None
    return AuditPage(items=items, next_cursor=next_cursor)
