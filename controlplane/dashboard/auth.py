"""Who is looking at the dashboard: its cookie session, scopes and CSRF checks.

Pages need a session (else a redirect to the sign-in page); the JSON actions and
event streams answer 401 without one. Every POST must carry the session's CSRF
token in the X-CSRF-Token header (the sign-in form uses a double-submit cookie).
The session cookie is SameSite=Strict as a second line of defence.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from controlplane.dashboard.sessions import COOKIE, CSRF_HEADER, Session, SessionStore
from controlplane.errors import Forbidden, Unauthorized
from controlplane.security.auth import SAFE_METHODS, SCOPES, Principal, principal_for_key_id

LOGIN_PATH = "/dashboard/login"


class LoginRequired(Exception):
    """A page was asked for without a valid session: send the browser to sign in."""


@dataclass(frozen=True)
class Viewer:
    principal: Principal
    session: Session

    def allows(self, scope: str) -> bool:
        return self.principal.allows(scope)


def store(request: Request) -> SessionStore:
    sessions: SessionStore = request.app.state.dashboard_sessions
    return sessions


async def current(request: Request) -> Viewer | None:
    """The signed-in viewer, or None (no cookie, expired, or the key was revoked)."""
    session = await store(request).load(request.cookies.get(COOKIE))
    if session is None:
        return None
    principal = await principal_for_key_id(request, session.key_id)
    if principal is None:
        await store(request).close(session.sid)
        return None
    return Viewer(principal=principal, session=session)


def viewer(scope: str, *, page: bool = False) -> Callable[[Request], Coroutine[Any, Any, Viewer]]:
    """A dependency admitting a signed-in viewer holding `scope`; POSTs need the CSRF
    token too. `page`: redirect to sign-in instead of answering 401."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    async def dependency(request: Request) -> Viewer:
        who = await current(request)
        if who is None:
            if page:
                raise LoginRequired()
            raise Unauthorized("sign in to the dashboard first")
        if request.method not in SAFE_METHODS and not who.session.csrf_ok(
            request.headers.get(CSRF_HEADER)
        ):
            raise Forbidden("missing or wrong CSRF token", field=CSRF_HEADER)
        if not who.allows(scope):
            raise Forbidden(f"this key lacks the '{scope}' scope")
        request.state.principal = who.principal
        return who

    dependency.__name__ = f"dashboard_{scope.replace(':', '_')}{'_page' if page else ''}"
    return dependency
