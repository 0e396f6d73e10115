"""The waker route, called by Traefik only (the API router in deploy/traefik excludes /edge/).

GET /edge/wake/{path} is the low-priority fallback router for hosts whose tenant
router is gone (a stopped container): it wakes the tenant and sends the browser back.
GET /edge/gate, the ForwardAuth hook, is served by controlplane/edge/gate.py.
"""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from controlplane.edge.gate import RETRY_AFTER
from controlplane.edge.service import Edge
from controlplane.errors import NotFound

router = APIRouter(prefix="/edge", tags=["edge"])

WAKING_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{retry}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Waking up {slug}</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto;">
<h1>Waking up&hellip;</h1>
<p><strong>{slug}</strong> was asleep to save resources and is starting now.
This page reloads by itself in {retry} seconds.</p>
</body></html>
"""


def _edge(request: Request) -> Edge:
    edge: Edge = request.app.state.edge
    return edge


@router.get("/wake", include_in_schema=False)
@router.get("/wake/{path:path}")
async def wake(
    request: Request,
    path: str = "",
    x_forwarded_host: Annotated[str | None, Header(max_length=300)] = None,
    x_forwarded_proto: Annotated[str | None, Header(max_length=8)] = None,
) -> Response:
    """Fallback for a stopped tenant: wake it, then redirect to the same URL (or show a
    page that reloads itself while it is still starting)."""
    host = x_forwarded_host or request.headers.get("host", "")
    edge = _edge(request)
    entry = await edge.resolve(host)
    if entry is None:
        raise NotFound(f"no tenant serves host '{host}'")
    edge.activity.touch(entry.tenant_id)
    settings = request.app.state.settings
    # Only redirect after a wake: a live tenant whose router is missing (Traefik has
    # not seen its container yet) would bounce straight back here, so it gets the page.
    if entry.paused and await edge.wake(entry, wait=settings.waker_wait):
        proto = x_forwarded_proto if x_forwarded_proto in ("http", "https") else "https"
        target = f"{proto}://{host.strip()}/{path}"
        if request.url.query:
            target += f"?{request.url.query}"
        return RedirectResponse(target, status_code=307, headers={"Cache-Control": "no-store"})
    body = WAKING_PAGE.format(retry=RETRY_AFTER, slug=html.escape(entry.slug))
    return HTMLResponse(
        body,
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER), "Cache-Control": "no-store"},
    )
