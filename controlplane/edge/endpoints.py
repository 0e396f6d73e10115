"""Edge routes, called by Traefik only (the API router in deploy/traefik excludes /edge/).

- GET /edge/gate: the ForwardAuth middleware on every tenant router. 200 lets the
  request through; a paused tenant is woken first.
- GET /edge/wake/{path}: the low-priority fallback router for hosts whose tenant
  router is gone (a stopped container). Wakes the tenant and sends the browser back.
"""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from controlplane.edge.service import Edge
from controlplane.errors import InvalidInput, NotFound, Unavailable

router = APIRouter(prefix="/edge", tags=["edge"])

RETRY_AFTER = 2

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


@router.get("/gate", include_in_schema=True)
async def gate(
    request: Request,
    x_forwarded_host: Annotated[str | None, Header(max_length=300)] = None,
) -> Response:
    """ForwardAuth: 200 for a live tenant (activity recorded), waking a paused one first."""
    if not x_forwarded_host:
        raise InvalidInput("X-Forwarded-Host header is required", field="X-Forwarded-Host")
    edge = _edge(request)
    entry = await edge.resolve(x_forwarded_host)
    if entry is None:
        raise NotFound(f"no tenant serves host '{x_forwarded_host}'")
    edge.activity.touch(entry.tenant_id)
    if entry.paused:
        settings = request.app.state.settings
        if not await edge.wake(entry, wait=settings.gate_wait):
            raise Unavailable(
                f"tenant '{entry.slug}' is waking up; retry shortly", retry_after=RETRY_AFTER
            )
    return Response(status_code=200)


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
