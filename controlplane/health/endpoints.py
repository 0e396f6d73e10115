"""GET /healthz (process alive) and GET /readyz (dependencies reachable)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from controlplane.deps import ReadDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the API process answers. Needs no token."""
    return {"status": "ok"}


async def _check_db(request: Request) -> None:
    async with request.app.state.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _check_redis(request: Request) -> None:
    await asyncio.to_thread(request.app.state.redis.ping)


async def _check_docker(request: Request) -> None:
    await asyncio.to_thread(request.app.state.backend.ping)


@router.get("/readyz")
async def readyz(request: Request, _: ReadDep) -> JSONResponse:
    """Readiness: PostgreSQL, Redis and the Docker engine all answer."""
    checks = {"database": _check_db, "redis": _check_redis, "docker": _check_docker}
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check(request), timeout=3)
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            results[name] = f"unavailable ({type(exc).__name__})"
    ready = all(v == "ok" for v in results.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": results},
        status_code=200 if ready else 503,
        headers=None if ready else {"Retry-After": "5"},
    )
