"""Writing audit events (append-only)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.models import AuditEvent


def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    target: str,
    outcome: str = "ok",
    request_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an audit event to the caller's transaction. Never pass secret values in detail."""
    session.add(
        AuditEvent(
            actor=actor,
            action=action,
            target=target,
            outcome=outcome,
            request_id=request_id,
            detail=detail or {},
        )
    )
