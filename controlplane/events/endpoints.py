"""GET /tenants/{slug}/events: a tenant's lifecycle as server-sent events."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from controlplane.deps import ReadDep, SessionDep
from controlplane.events.service import SSE_HEADERS, follow, last_event_id
from controlplane.tenants import service as tenants
from controlplane.tenants.endpoints import SlugPath

router = APIRouter(prefix="/tenants", tags=["tenants"])

LastEventId = Annotated[str | None, Header(alias="Last-Event-ID")]
SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "SSE stream"}
}


def lifecycle_response(
    request: Request, *, tenant_id: uuid.UUID | None, last_event: str | None
) -> StreamingResponse:
    """The SSE response following one tenant's lifecycle events (every tenant's for None),
    resumed after the client's Last-Event-ID; the API and the dashboard both serve it."""
    stream = follow(
        request.app.state.sessionmaker,
        request.app.state.events,
        tenant_id=tenant_id,
        resume_after=last_event_id(last_event),
        disconnected=request.is_disconnected,
    )
    return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)


@router.get("/{slug}/events", response_class=StreamingResponse, responses=SSE_RESPONSES)
async def tenant_events(
    slug: SlugPath,
    request: Request,
    session: SessionDep,
    _: ReadDep,
    last_event: LastEventId = None,
) -> StreamingResponse:
    """Server-sent events: the tenant's recent lifecycle history, then live transitions."""
    tenant = await tenants.get_live(session, slug=slug)  # 404 before the stream starts
    return lifecycle_response(request, tenant_id=tenant.id, last_event=last_event)
