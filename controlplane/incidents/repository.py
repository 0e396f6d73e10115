"""All incident queries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import any_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.db import uuid_array
from controlplane.models import Incident


class IncidentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, incident: Incident) -> None:
        self.session.add(incident)

    async def latest_open(
        self, tenant_id: uuid.UUID, *, kind: str, container_id: str | None, since: datetime
    ) -> Incident | None:
        stmt = (
            select(Incident)
            .where(
                Incident.tenant_id == tenant_id,
                Incident.kind == kind,
                Incident.resolved_at.is_(None),
                Incident.last_seen_at >= since,
            )
            .order_by(Incident.id.desc())
            .limit(1)
            .with_for_update()
        )
        if container_id is not None:
            stmt = stmt.where(Incident.container_id == container_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def open_leak(self, tenant_id: uuid.UUID, *, secret: str) -> Incident | None:
        """The open secret_leak incident for this tenant's secret `secret`, if any."""
        stmt = (
            select(Incident)
            .where(
                Incident.tenant_id == tenant_id,
                Incident.kind == "secret_leak",
                Incident.resolved_at.is_(None),
                Incident.detail["secret"].astext == secret,
            )
            .order_by(Incident.id.desc())
            .limit(1)
            .with_for_update()
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def count_failures_since(self, tenant_id: uuid.UUID, since: datetime) -> int:
        """Crash and OOM incidents (with their collapsed repeats) since `since`."""
        stmt = select(func.coalesce(func.sum(Incident.occurrences), 0)).where(
            Incident.tenant_id == tenant_id,
            Incident.kind.in_(("oom", "crash")),
            Incident.last_seen_at >= since,
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def resolve_open(
        self, tenant_id: uuid.UUID, *, kinds: Sequence[str], at: datetime
    ) -> int:
        result = await self.session.execute(
            update(Incident)
            .where(
                Incident.tenant_id == tenant_id,
                Incident.kind.in_(kinds),
                Incident.resolved_at.is_(None),
            )
            .values(resolved_at=at)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def page(
        self,
        *,
        limit: int,
        tenant_id: uuid.UUID | None = None,
        slug: str | None = None,
        kind: str | None = None,
        is_open: bool | None = None,
        since: datetime | None = None,
        before_id: int | None = None,
    ) -> Sequence[Incident]:
        """Newest first, keyset-paginated by id."""
        stmt = select(Incident)
        if tenant_id is not None:
            stmt = stmt.where(Incident.tenant_id == tenant_id)
        if slug is not None:
            stmt = stmt.where(Incident.slug == slug)
        if kind is not None:
            stmt = stmt.where(Incident.kind == kind)
        if is_open is True:
            stmt = stmt.where(Incident.resolved_at.is_(None))
        elif is_open is False:
            stmt = stmt.where(Incident.resolved_at.is_not(None))
        if since is not None:
            stmt = stmt.where(Incident.opened_at >= since)
        if before_id is not None:
            stmt = stmt.where(Incident.id < before_id)
        stmt = stmt.order_by(Incident.id.desc()).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()

    async def last_for(self, tenant_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Incident]:
        if not tenant_ids:
            return {}
        stmt = (
            select(Incident)
            .where(Incident.tenant_id == any_(uuid_array(tenant_ids)))
            .distinct(Incident.tenant_id)
            .order_by(Incident.tenant_id, Incident.id.desc())
        )
        return {i.tenant_id: i for i in (await self.session.execute(stmt)).scalars().all()}
