"""Bearer-token authentication and per-route scopes.

Three kinds of token are accepted: the admin token from the settings (a built-in
principal with key id "admin"), API keys `berth_<id>_<secret>` created through
/api-keys, and tenant runtime tokens `berthrt_<id>_<secret>` (one per tenant
container, in its env). An API key costs one primary-key lookup; its last_used_at
is written at most once a minute, not on every request. A runtime token holds the
`runtime` scope and nothing else, and no other principal holds `runtime`: the
/runtime routes act on the caller's own tenant, and every other route refuses it.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from controlplane.audit.service import record
from controlplane.errors import Forbidden, Unauthorized
from controlplane.security import keys
from controlplane.security.repository import TOUCH_INTERVAL, ApiKeyRepository
from controlplane.tenant_runtime import service as runtime_tokens
from controlplane.tenant_runtime.tokens import is_runtime_token

log = structlog.get_logger(__name__)

SCOPES = ("admin", "signup", "deploy", "billing:read", "metrics:read", "read")
# Held only by tenant runtime tokens; never grantable to an API key.
RUNTIME_SCOPE = "runtime"
ADMIN_KEY_ID = "admin"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key id (for the audit log) and what it may do."""

    key_id: str
    scopes: frozenset[str]
    tenant_id: uuid.UUID | None = None  # set for tenant runtime tokens only
    slug: str | None = None

    def allows(self, scope: str) -> bool:
        if scope == RUNTIME_SCOPE or self.tenant_id is not None:
            return self.tenant_id is not None and scope == RUNTIME_SCOPE
        return "admin" in self.scopes or scope in self.scopes


ADMIN = Principal(key_id=ADMIN_KEY_ID, scopes=frozenset({"admin"}))


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    return token.strip()


def _sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return maker


async def authenticate(request: Request) -> Principal:
    """Resolve the caller from the Authorization header, or raise 401."""
    return await principal_for_token(request, _bearer(request))


async def principal_for_token(request: Request, token: str) -> Principal:
    """The principal an admin token or API key stands for, or raise 401."""
    admin_token: str = request.app.state.admin_token
    if hmac.compare_digest(token.encode(), admin_token.encode()):
        return ADMIN
    if is_runtime_token(token):
        return await _runtime_principal(request, token)
    key_id = keys.key_id_of(token)
    if key_id is None:
        raise Unauthorized()
    async with _sessionmaker(request)() as session:
        repo = ApiKeyRepository(session)
        row = await repo.credentials(key_id)
        if row is None or row.revoked_at is not None or not keys.matches(token, row.key_hash):
            raise Unauthorized()
        if row.last_used_at is None or datetime.now(UTC) - row.last_used_at >= TOUCH_INTERVAL:
            await repo.touch(key_id)
            await session.commit()
    return Principal(key_id=key_id, scopes=frozenset(row.scopes) & frozenset(SCOPES))


async def principal_for_key_id(request: Request, key_id: str) -> Principal | None:
    """The principal of an already-authenticated key id (a dashboard session), re-read
    so that a revoked key or a changed scope takes effect at once; None if revoked."""
    if key_id == ADMIN_KEY_ID:
        return ADMIN
    async with _sessionmaker(request)() as session:
        row = await ApiKeyRepository(session).credentials(key_id)
    if row is None or row.revoked_at is not None:
        return None
    return Principal(key_id=key_id, scopes=frozenset(row.scopes) & frozenset(SCOPES))


async def _runtime_principal(request: Request, token: str) -> Principal:
    async with _sessionmaker(request)() as session:
        identity = await runtime_tokens.authenticate(session, token=token)
    if identity is None:
        raise Unauthorized()
    return Principal(
        key_id=f"runtime:{identity.token_id}",
        scopes=frozenset({RUNTIME_SCOPE}),
        tenant_id=identity.tenant_id,
        slug=identity.slug,
    )


async def _record_denied(request: Request, principal: Principal, scope: str) -> None:
    """Audit a refused attempt to change something; a failure here never hides the 403."""
    try:
        async with _sessionmaker(request)() as session:
            record(
                session,
                actor=principal.key_id,
                action="access.denied",
                target=request.url.path[:128],
                outcome="denied",
                request_id=getattr(request.state, "request_id", None),
                detail={"method": request.method, "scope": scope},
            )
            await session.commit()
    except (SQLAlchemyError, OSError) as exc:
        log.warning("audit_denied_not_recorded", error_type=type(exc).__name__)


def require(scope: str) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """A dependency that admits callers holding `scope` (or admin)."""
    if scope not in SCOPES and scope != RUNTIME_SCOPE:
        raise ValueError(f"unknown scope {scope!r}")

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if not principal.allows(scope):
            if request.method not in SAFE_METHODS:
                await _record_denied(request, principal, scope)
            raise Forbidden(f"this key lacks the '{scope}' scope")
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency
