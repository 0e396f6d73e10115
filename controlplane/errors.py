"""Berth's typed errors and the one handler that renders them.

Every expected failure is a BerthError with a status and a machine-readable code,
rendered as {"error": code, "detail": message, "field": field}.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)


class BerthError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self, message: str, *, field: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers = headers or {}


class InvalidInput(BerthError):
    status = 422
    code = "invalid"


class NotFound(BerthError):
    status = 404
    code = "not_found"


class Conflict(BerthError):
    status = 409
    code = "conflict"


class Unauthorized(BerthError):
    status = 401
    code = "unauthorized"

    def __init__(self, message: str = "missing or invalid bearer token") -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(BerthError):
    status = 403
    code = "forbidden"


class PayloadTooLarge(BerthError):
    status = 413
    code = "payload_too_large"


class Unavailable(BerthError):
    status = 503
    code = "unavailable"

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class FieldErrorOut(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    """Every error answer: a machine-readable code, a message, and the field at fault."""

    error: str
    detail: str | list[FieldErrorOut]
    field: str | None = None


_DESCRIPTIONS = {
    400: "malformed request (e.g. a body that is not JSON)",
    401: "missing or invalid bearer token",
    403: "the key lacks the route's scope",
    404: "not found",
    409: "conflicts with the current state",
    413: "request body too large",
    422: "invalid input; `field` names it",
    429: "rate limited; see Retry-After",
    503: "a dependency is unavailable; see Retry-After",
}
# Declared on every route (app.py) so the OpenAPI document describes the error bodies.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text} for code, text in _DESCRIPTIONS.items()
}


def error_body(code: str, detail: Any, field: str | None = None) -> dict[str, Any]:
    return {"error": code, "detail": detail, "field": field}


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) if parts else "body"


def install_error_handlers(app: FastAPI) -> None:
    """Map BerthError, validation errors and database outages onto JSON answers."""

    @app.exception_handler(BerthError)
    async def _berth(_: Request, exc: BerthError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, exc.field),
            status_code=exc.status,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid input"}
        detail = [
            # Never echo the offending input back: it may be a secret value.
            {"field": _field_of(tuple(e.get("loc", ()))), "message": e.get("msg", "")}
            for e in errors
        ]
        return JSONResponse(
            {"error": "invalid", "detail": detail, "field": _field_of(tuple(first["loc"]))},
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        # FastAPI's only 400 is a body it could not parse.
        field = "body" if exc.status_code == 400 else None
        return JSONResponse(
            error_body(code, exc.detail, field),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeoutError)
    @app.exception_handler(DBAPIError)
    @app.exception_handler(OSError)
    async def _db_down(_: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, IntegrityError):
            # Services translate the conflicts they expect; this is the safety net.
            return JSONResponse(error_body("conflict", "conflicting change"), status_code=409)
        log.warning("database_unavailable", error_type=type(exc).__name__)
        return JSONResponse(
            error_body("unavailable", "the database is unavailable; retry shortly"),
            status_code=503,
            headers={"Retry-After": "5"},
        )
