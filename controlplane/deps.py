"""Annotated dependency aliases used by the endpoints."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.context import Actor
from controlplane.db import session_scope
from controlplane.security.auth import Principal, require
from controlplane.security.crypto import SecretBox
from controlplane.security.ratelimit import limit_signups
from controlplane.settings import Settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    state = request.app.state
    async for session in session_scope(state.sessionmaker, state.queue.run):
        yield session


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.box
    return box


def get_request_id(request: Request) -> str:
    rid: str | None = getattr(request.state, "request_id", None)
    return rid or uuid.uuid4().hex


# scope="function": commit (and enqueue) before the response is sent, so a 202
# always means the row is durable.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
BoxDep = Annotated[SecretBox, Depends(get_box)]


async def signup_principal(
    request: Request, principal: Annotated[Principal, Depends(require("signup"))]
) -> Principal:
    """The signup scope, plus the per-key signup rate limit (429 beyond the burst)."""
    await limit_signups(request, principal)
    return principal


# Which scope each route needs is decided here (and listed in tests/api/test_scopes.py).
AdminDep = Annotated[Principal, Depends(require("admin"))]
ReadDep = Annotated[Principal, Depends(require("read"))]
SignupDep = Annotated[Principal, Depends(signup_principal)]
DeployDep = Annotated[Principal, Depends(require("deploy"))]
MetricsReadDep = Annotated[Principal, Depends(require("metrics:read"))]
BillingReadDep = Annotated[Principal, Depends(require("billing:read"))]
# Tenant runtime tokens only (controlplane/tenant_runtime): no API key or admin token.
RuntimeDep = Annotated[Principal, Depends(require("runtime"))]


def actor_of(principal: Principal, request: Request) -> Actor:
    return Actor(key_id=principal.key_id, request_id=get_request_id(request))
