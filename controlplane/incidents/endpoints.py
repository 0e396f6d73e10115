"""Incident routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from controlplane.deps import ReadDep, SessionDep
from controlplane.errors import InvalidInput
from controlplane.incidents.repository import IncidentRepository
from controlplane.incidents.schemas import IncidentOut, IncidentPage

router = APIRouter(prefix="/incidents", tags=["incidents"])

Kind = Literal["oom", "crash", "unhealthy", "crashloop", "secret_leak"]


@router.get("", response_model=IncidentPage)
async def list_incidents(
    session: SessionDep,
    _: ReadDep,
    tenant: Annotated[str | None, Query(max_length=32)] = None,
    kind: Kind | None = None,
    open: bool | None = None,  # noqa: A002 - the public query parameter's name
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
) -> IncidentPage:
    """List incidents, newest first; filter by tenant, kind, open/resolved and time."""
    before = None
    if cursor is not None:
        if not cursor.isdigit():
            raise InvalidInput("malformed cursor", field="cursor")
        before = int(cursor)
    rows = await IncidentRepository(session).page(
        limit=limit, slug=tenant, kind=kind, is_open=open, since=since, before_id=before
    )
    items = [
        IncidentOut(
            id=i.id,
            tenant=i.slug,
            kind=i.kind,
            severity=i.severity,
            exit_code=i.exit_code,
            restart_count=i.restart_count,
            occurrences=i.occurrences,
            source=i.source,
            opened_at=i.opened_at,
            last_seen_at=i.last_seen_at,
            resolved_at=i.resolved_at,
            secret=(i.detail or {}).get("secret") if i.kind == "secret_leak" else None,
        )
        for i in rows
    ]
    next_cursor = str(rows[-1].id) if len(rows) == limit else None
    return IncidentPage(items=items, next_cursor=next_cursor)
