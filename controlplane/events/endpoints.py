"""GET /tenants/{slug}/events: a tenant's lifecycle as server-sent events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from controlplane.deps import ReadDep, SessionDep
from controlplane.events.service import SSE_HEADERS, follow, last_event_id
from controlplane.tenants import service as tenants
from controlplane.tenants.endpoints import SlugPath

router = APIRouter(prefix="/tenants", tags=["tenants"])


@router.get(
    "/{slug}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "SSE stream"}},
)
async def tenant_events(
    slug: SlugPath,
    request: Request,
    session: SessionDep,
    _: ReadDep,
    last_event: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """Server-sent events: the tenant's recent lifecycle history, then live transitions."""
    tenant = await tenants.get_live(session, slug=slug)  # 404 before the stream starts
    stream = follow(
        request.app.state.sessionmaker,
        request.app.state.events,
        tenant_id=tenant.id,
        resume_after=last_event_id(last_event),
        disconnected=request.is_disconnected,
    )
    return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)
