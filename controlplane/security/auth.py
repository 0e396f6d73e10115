"""Bearer-token authentication and per-route scopes."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from controlplane.errors import Forbidden, Unauthorized

SCOPES = ("admin", "signup", "deploy", "billing:read", "metrics:read", "read")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key id (for the audit log) and what it may do."""

    key_id: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    return token.strip()


def authenticate(request: Request) -> Principal:
    """Resolve the caller from the Authorization header, or raise 401."""
    token = _bearer(request)
    admin_token: str = request.app.state.admin_token
    if hmac.compare_digest(token.encode(), admin_token.encode()):
        return Principal(key_id="admin", scopes=frozenset({"admin"}))
    raise Unauthorized()


def require(scope: str) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """A dependency that admits callers holding `scope` (or admin)."""

    async def dependency(request: Request) -> Principal:
        principal = authenticate(request)
        if not principal.allows(scope):
            raise Forbidden(f"this key lacks the '{scope}' scope")
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency
