"""GET /dashboard and its pages, actions and event streams (cookie session)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field, field_validator

from controlplane.dashboard import service
from controlplane.dashboard.auth import Viewer, current, store, viewer
from controlplane.dashboard.sessions import COOKIE, COOKIE_PATH, LOGIN_CSRF_COOKIE
from controlplane.dashboard.views import install_filters
from controlplane.deps import SessionDep, actor_of
from controlplane.errors import Unauthorized
from controlplane.events.endpoints import SSE_RESPONSES as SSE
from controlplane.events.endpoints import LastEventId, lifecycle_response
from controlplane.events.service import SSE_HEADERS
from controlplane.rollouts import service as rollouts
from controlplane.rollouts.endpoints import rollout_stream
from controlplane.security.auth import principal_for_token
from controlplane.tenants import service as tenants
from controlplane.tenants.endpoints import SlugPath
from controlplane.validation import Version, check_slug

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
install_filters(templates.env)

router = APIRouter(prefix="/dashboard", tags=["dashboard"])

PageDep = Annotated[Viewer, Depends(viewer("read", page=True))]
ReadDep = Annotated[Viewer, Depends(viewer("read"))]
AdminDep = Annotated[Viewer, Depends(viewer("admin"))]
DeployDep = Annotated[Viewer, Depends(viewer("deploy"))]
HTML: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "HTML page"}
}
# Pages behind the sign-in: a browser without a session is sent to the sign-in page.
PAGE: dict[int | str, dict[str, Any]] = {
    **HTML,
    303: {"description": "not signed in: redirect to /dashboard/login"},
}


# Pages load only their own script and stylesheet, never inline code, and may not
# be framed (clickjacking of the action buttons).
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "same-origin",
}


class RolloutStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Version
    slugs: list[str] | None = Field(default=None, max_length=10000)  # None: every tenant

    @field_validator("slugs")
    @classmethod
    def _slugs(cls, value: list[str] | None) -> list[str] | None:
        for slug in value or ():
            check_slug(slug)
        return value


def _cookie(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )


async def _page(request: Request, name: str, who: Viewer | None, **context: Any) -> HTMLResponse:
    context.update(request=request, csrf=who.session.csrf if who else "", viewer=who)
    # A 1,000-row fleet page takes a while to render: keep it off the event loop,
    # which also serves the gate and the event streams.
    html = await asyncio.to_thread(templates.get_template(name).render, context)
    return HTMLResponse(html, headers=PAGE_HEADERS)


@router.get("", response_class=HTMLResponse, responses=PAGE)
async def fleet_page(request: Request, session: SessionDep, who: PageDep) -> HTMLResponse:
    """The fleet: counts by state, versions, the latest rollout, tenants and incidents."""
    return await _page(request, "fleet.html", who, fleet=await service.fleet(session))


@router.get("/login", response_class=HTMLResponse, responses=HTML)
async def login_page(request: Request) -> Response:
    """The sign-in form (an API key with the read scope)."""
    if await current(request) is not None:
        return RedirectResponse("/dashboard", status_code=303)
    return await _login(request, error=None, status=200)


async def _login(request: Request, *, error: str | None, status: int) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = await _page(request, "login.html", None, login_csrf=token, error=error)
    response.status_code = status
    _cookie(response, LOGIN_CSRF_COOKIE, token, 600)
    return response


@router.post("/login", response_class=HTMLResponse, responses=HTML)
async def login(request: Request) -> Response:
    """Sign in: trade an API key for a session cookie (the key itself is not kept)."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    token = (form.get("key") or [""])[0].strip()
    csrf = (form.get("csrf") or [""])[0]
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(csrf.encode(), expected.encode()):
        return await _login(request, error="The form expired; please sign in again.", status=400)
    try:
        principal = await principal_for_token(request, token) if token else None
    except Unauthorized:
        principal = None
    if principal is None:
        return await _login(request, error="That API key is not valid.", status=401)
    if not principal.allows("read"):
        return await _login(request, error="That key lacks the 'read' scope.", status=403)
    opened = await store(request).open(principal.key_id)
    response = RedirectResponse("/dashboard", status_code=303)
    _cookie(response, COOKIE, opened.sid, store(request).ttl)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=COOKIE_PATH)
    return response


@router.post("/logout", status_code=204)
async def logout(request: Request, who: ReadDep) -> Response:
    """Sign out: end the session (needs the CSRF token)."""
    await store(request).close(who.session.sid)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


@router.get("/tenants/{slug}", response_class=HTMLResponse, responses=PAGE)
async def tenant_page(
    slug: SlugPath, request: Request, session: SessionDep, who: PageDep
) -> HTMLResponse:
    """One tenant: its state, usage, incidents and live lifecycle events."""
    return await _page(request, "tenant.html", who, view=await service.tenant(session, slug=slug))


@router.post("/tenants/{slug}/pause")
async def pause(
    slug: SlugPath, request: Request, session: SessionDep, who: AdminDep
) -> dict[str, Any]:
    """Pause a tenant (admin scope, CSRF token)."""
    return await service.act(
        session, actor=actor_of(who.principal, request), slug=slug, action="pause"
    )


@router.post("/tenants/{slug}/resume")
async def resume(
    slug: SlugPath, request: Request, session: SessionDep, who: AdminDep
) -> dict[str, Any]:
    """Resume a paused tenant (admin scope, CSRF token)."""
    return await service.act(
        session, actor=actor_of(who.principal, request), slug=slug, action="resume"
    )


@router.post("/tenants/{slug}/restart")
async def restart(
    slug: SlugPath, request: Request, session: SessionDep, who: AdminDep
) -> dict[str, Any]:
    """Restart a tenant's container (admin scope, CSRF token)."""
    return await service.act(
        session, actor=actor_of(who.principal, request), slug=slug, action="restart"
    )


@router.post("/rollouts", status_code=202)
async def start_rollout(
    body: RolloutStart, request: Request, session: SessionDep, who: DeployDep
) -> dict[str, Any]:
    """Start a rollout of a blueprint version to every tenant (deploy scope, CSRF token)."""
    return await service.start_rollout(
        session, actor=actor_of(who.principal, request), version=body.version, slugs=body.slugs
    )


@router.get("/events", response_class=StreamingResponse, responses=SSE)
async def fleet_events(
    request: Request, _: ReadDep, last_event: LastEventId = None
) -> StreamingResponse:
    """Every tenant's lifecycle events from now on (the fleet page's live updates)."""
    return lifecycle_response(request, tenant_id=None, last_event=last_event)


@router.get("/tenants/{slug}/events", response_class=StreamingResponse, responses=SSE)
async def tenant_events(
    slug: SlugPath,
    request: Request,
    session: SessionDep,
    _: ReadDep,
    last_event: LastEventId = None,
) -> StreamingResponse:
    """The tenant's recent lifecycle history, then live transitions."""
    tenant = await tenants.get_live(session, slug=slug)
    return lifecycle_response(request, tenant_id=tenant.id, last_event=last_event)


@router.get("/rollouts/{rollout_id}/events", response_class=StreamingResponse, responses=SSE)
async def rollout_events(
    rollout_id: uuid.UUID, request: Request, session: SessionDep, _: ReadDep
) -> StreamingResponse:
    """A rollout's progress: a snapshot, then per-tenant transitions until it ends."""
    await rollouts.get(session, rollout_id=rollout_id)
    stream = rollout_stream(
        request.app.state.sessionmaker, rollout_id, disconnected=request.is_disconnected
    )
    return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)
