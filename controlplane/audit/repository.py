"""Audit event queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.models import AuditEvent


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def page(
        self,
        *,
        limit: int,
        action: str | None = None,
        target: str | None = None,
        actor: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        before_id: int | None = None,
    ) -> Sequence[AuditEvent]:
        """Newest first, keyset-paginated by id."""
        stmt = select(AuditEvent)
        if action is not None:
            stmt = stmt.where(AuditEvent.action == action)
        if target is not None:
            stmt = stmt.where(AuditEvent.target == target)
        if actor is not None:
            stmt = stmt.where(AuditEvent.actor == actor)
        if outcome is not None:
            stmt = stmt.where(AuditEvent.outcome == outcome)
        if since is not None:
            stmt = stmt.where(AuditEvent.at >= since)
        if before_id is not None:
            stmt = stmt.where(AuditEvent.id < before_id)
        stmt = stmt.order_by(AuditEvent.id.desc()).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()
