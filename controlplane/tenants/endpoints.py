"""Tenant routes: thin, the rules live in the service."""

from __future__ import annotations

import base64
import time
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.deps import (
    AdminDep,
    BoxDep,
    ReadDep,
    SessionDep,
    SettingsDep,
    SignupDep,
    actor_of,
)
from controlplane.errors import InvalidInput
from controlplane.models import Incident, Tenant
from controlplane.settings import Settings
from controlplane.tenants import service
from controlplane.tenants.schemas import (
    IncidentBrief,
    LimitsOut,
    SecretOut,
    SecretPut,
    TenantCreate,
    TenantOut,
    TenantPage,
    TenantState,
    TenantUpdate,
)
from controlplane.validation import ENV_NAME_RE

router = APIRouter(prefix="/tenants", tags=["tenants"])

SlugPath = Annotated[str, Path(max_length=32, pattern=r"^[a-z][a-z0-9-]*$")]
SecretName = Annotated[str, Path(max_length=128, pattern=ENV_NAME_RE.pattern)]


def to_out(
    tenant: Tenant,
    *,
    settings: Settings,
    secrets: list[str],
    last_incident: Incident | None = None,
) -> TenantOut:
    return TenantOut(
        slug=tenant.slug,
        plan=tenant.plan,
        url=f"http://{tenant.slug}.{settings.domain}",
        state=tenant.state,
        state_reason=tenant.state_reason,
        desired_state=tenant.desired_state,
        blueprint_version=tenant.blueprint_version,
        env=tenant.env,
        secrets=secrets,
        limits=LimitsOut(cpu=tenant.cpu, memory_mb=tenant.memory_mb, pids=tenant.pids),
        generation=tenant.generation,
        pinned_version=tenant.pinned_version,
        container_name=tenant.container_name,
        health=tenant.health,
        restart_count=tenant.restart_count,
        last_incident=IncidentBrief(
            id=last_incident.id,
            kind=last_incident.kind,
            severity=last_incident.severity,
            opened_at=last_incident.opened_at,
            resolved_at=last_incident.resolved_at,
        )
        if last_incident
        else None,
        created_at=tenant.created_at,
        updated_at=tenant.updated_at,
        last_active_at=tenant.last_active_at,
    )


async def _one(session: AsyncSession, tenant: Tenant, settings: Settings) -> TenantOut:
    names = await service.secret_names(session, tenants=[tenant])
    return to_out(tenant, settings=settings, secrets=names[tenant.id])


def _encode_cursor(tenant: Tenant) -> str:
    raw = f"{tenant.created_at.isoformat()}|{tenant.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created, tid = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created), uuid.UUID(tid)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("malformed cursor", field="cursor") from exc


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=TenantOut)
async def signup(
    body: TenantCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    box: BoxDep,
    principal: SignupDep,
) -> TenantOut:
    """Sign up a tenant; its container is provisioned in the background."""
    tenant = await service.signup(
        session,
        actor=actor_of(principal, request),
        data=body,
        box=box,
        default_plan=settings.default_plan,
        runtimes=request.app.state.runtimes,
    )
    response.headers["Location"] = f"/tenants/{tenant.slug}"
    return to_out(tenant, settings=settings, secrets=sorted(body.secrets))


@router.get("", response_model=TenantPage)
async def list_tenants(
    session: SessionDep,
    settings: SettingsDep,
    _: ReadDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    state: TenantState | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> TenantPage:
    """List tenants, oldest first, with an opaque cursor for the next page."""
    after = _decode_cursor(cursor) if cursor else None
    tenants = await service.list_page(session, limit=limit, state=state, after=after)
    names = await service.secret_names(session, tenants=tenants)
    last = await service.last_incidents(session, tenants=tenants)
    items = [
        to_out(t, settings=settings, secrets=names[t.id], last_incident=last.get(t.id))
        for t in tenants
    ]
    next_cursor = _encode_cursor(tenants[-1]) if len(tenants) == limit else None
    return TenantPage(items=items, next_cursor=next_cursor)


@router.get("/{slug}", response_model=TenantOut)
async def get_tenant(
    slug: SlugPath,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _: ReadDep,
    wait_for: Annotated[
        TenantState | None,
        Query(description="long-poll: answer once the tenant reaches this state"),
    ] = None,
    timeout: Annotated[float, Query(ge=0, le=60, description="seconds to wait at most")] = 30,
) -> TenantOut:
    """Show one tenant; with wait_for, wait (up to timeout) until it reaches that state."""
    tenant = await service.get_live(session, slug=slug)
    if wait_for is not None:
        changes = request.app.state.changes
        deadline = time.monotonic() + timeout
        while tenant.state != wait_for and tenant.state != "failed":
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            # End the read transaction while waiting, so a waiter holds no connection.
            await session.commit()
            await changes.wait(str(tenant.id), remaining)
            session.expire_all()
            tenant = await service.get_live(session, slug=slug)
    names = await service.secret_names(session, tenants=[tenant])
    last = await service.last_incidents(session, tenants=[tenant])
    return to_out(
        tenant, settings=settings, secrets=names[tenant.id], last_incident=last.get(tenant.id)
    )


@router.patch("/{slug}", response_model=TenantOut, status_code=status.HTTP_202_ACCEPTED)
async def update_tenant(
    slug: SlugPath,
    body: TenantUpdate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: AdminDep,
) -> TenantOut:
    """Change env, limits or plan; the container is recreated with them."""
    tenant = await service.update(
        session,
        actor=actor_of(principal, request),
        slug=slug,
        data=body,
        runtimes=request.app.state.runtimes,
    )
    return await _one(session, tenant, settings)


@router.delete("/{slug}", response_model=TenantOut, status_code=status.HTTP_202_ACCEPTED)
async def delete_tenant(
    slug: SlugPath,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: AdminDep,
    keep_data: bool = False,
) -> TenantOut:
    """Delete a tenant: its container, and its data volume unless keep_data=true."""
    tenant = await service.delete(
        session, actor=actor_of(principal, request), slug=slug, keep_data=keep_data
    )
    return to_out(tenant, settings=settings, secrets=[])


@router.get("/{slug}/secrets", response_model=list[SecretOut])
async def list_secrets(slug: SlugPath, session: SessionDep, _: ReadDep) -> list[SecretOut]:
    """List a tenant's secret names and update times; values are never returned."""
    secrets = await service.list_secrets(session, slug=slug)
    return [SecretOut(name=s.name, updated_at=s.updated_at) for s in secrets]


@router.put("/{slug}/secrets/{name}", response_model=SecretOut)
async def put_secret(
    slug: SlugPath,
    name: SecretName,
    body: SecretPut,
    request: Request,
    session: SessionDep,
    box: BoxDep,
    principal: AdminDep,
) -> SecretOut:
    """Set a secret; it is encrypted at rest and the container is recreated with it."""
    if name.upper().startswith("BERTH_"):
        raise InvalidInput("names starting with BERTH_ are reserved for Berth", field="name")
    secret = await service.put_secret(
        session,
        actor=actor_of(principal, request),
        slug=slug,
        name=name,
        value=body.value,
        box=box,
    )
    return SecretOut(name=secret.name, updated_at=secret.updated_at)


@router.delete("/{slug}/secrets/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_secret(
    slug: SlugPath, name: SecretName, request: Request, session: SessionDep, principal: AdminDep
) -> Response:
    """Remove a secret; the container is recreated without it."""
    await service.delete_secret(session, actor=actor_of(principal, request), slug=slug, name=name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{slug}/restart", response_model=TenantOut, status_code=status.HTTP_202_ACCEPTED)
async def restart_tenant(
    slug: SlugPath,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: AdminDep,
) -> TenantOut:
    """Recreate the tenant's container with the same spec and data; clears a crash loop."""
    tenant = await service.restart(session, actor=actor_of(principal, request), slug=slug)
    return await _one(session, tenant, settings)


@router.post("/{slug}/pause", response_model=TenantOut, status_code=status.HTTP_202_ACCEPTED)
async def pause_tenant(
    slug: SlugPath,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: AdminDep,
) -> TenantOut:
    """Pause a running tenant now, in its plan's pause mode (freeze or stop)."""
    tenant = await service.pause(
        session,
        actor=actor_of(principal, request),
        slug=slug,
        freeze_supported=settings.runtime != "swarm",
    )
    return await _one(session, tenant, settings)


@router.post("/{slug}/resume", response_model=TenantOut, status_code=status.HTTP_202_ACCEPTED)
async def resume_tenant(
    slug: SlugPath,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: AdminDep,
) -> TenantOut:
    """Wake a paused tenant; its idle clock starts again."""
    tenant = await service.resume(session, actor=actor_of(principal, request), slug=slug)
    return await _one(session, tenant, settings)
