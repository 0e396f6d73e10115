"""GET /edge/gate, served before FastAPI's routing and dependency machinery.

This is Traefik's ForwardAuth on every tenant request, so it is the hottest path in
Berth: a pure ASGI middleware answers it with a dict lookup and a dict write, and
hands every other request to the app untouched. Behaviour:
- 200 for a live tenant (activity recorded); a paused tenant is woken first;
- 422 naming X-Forwarded-Host when it is missing, 404 for a host that is no tenant;
- 503 + Retry-After when a wake takes longer than BERTH_GATE_WAIT.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from controlplane.edge.service import Edge
from controlplane.errors import error_body
from controlplane.metrics.gate import GateCounts

GATE_PATH = "/edge/gate"
RETRY_AFTER = 2


async def _answer(send: Send, status: int, body: dict[str, Any] | None, **headers: str) -> None:
    payload = b"" if body is None else json.dumps(body).encode()
    raw = [(b"content-length", str(len(payload)).encode())]
    if body is not None:
        raw.append((b"content-type", b"application/json"))
    raw += [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


class EdgeGateMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != GATE_PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        host = ""
        for name, value in scope["headers"]:
            if name == b"x-forwarded-host":
                host = value.decode("latin-1")[:300]
        state = scope["app"].state
        counts: GateCounts = state.gate_counts
        if not host:
            counts.inc("invalid")
            body = error_body("invalid", "X-Forwarded-Host header is required", "X-Forwarded-Host")
            await _answer(send, 422, body)
            return
        edge: Edge = state.edge
        entry = await edge.resolve(host)
        if entry is None:
            counts.inc("unknown")
            await _answer(send, 404, error_body("not_found", f"no tenant serves host '{host}'"))
            return
        edge.activity.touch(entry.tenant_id)
        if entry.paused and not await edge.wake(entry, wait=state.settings.gate_wait):
            counts.inc("waking")
            detail = f"tenant '{entry.slug}' is waking up; retry shortly"
            await _answer(
                send, 503, error_body("unavailable", detail), retry_after=str(RETRY_AFTER)
            )
            return
        counts.inc("woken" if entry.paused else "allowed")
        await _answer(send, 200, None)
