"""The dashboard's queries: a constant number per page, whatever the fleet size."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.models import Blueprint, Incident, Rollout, Tenant, TenantUsage


@dataclass(frozen=True)
class TenantRow:
    slug: str
    state: str
    desired_state: str
    version: str
    plan: str
    cpu_limit: float
    memory_limit_mb: int
    cpu_used: float | None
    memory_used: int | None
    last_active_at: datetime | None
    restarts: int
    state_reason: str | None


class DashboardRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def tenant_rows(self) -> list[TenantRow]:
        """Every live tenant with its measured usage, in one query."""
        stmt = (
            select(
                Tenant.slug,
                Tenant.state,
                Tenant.desired_state,
                Tenant.blueprint_version,
                Tenant.plan,
                Tenant.cpu,
                Tenant.memory_mb,
                TenantUsage.cpu_cores,
                TenantUsage.memory_bytes,
                Tenant.last_active_at,
                Tenant.restart_count,
                Tenant.state_reason,
            )
            .outerjoin(TenantUsage, TenantUsage.tenant_id == Tenant.id)
            .where(Tenant.deleted_at.is_(None))
            .order_by(Tenant.slug)
        )
        rows = (await self.session.execute(stmt)).all()
        return [TenantRow(*row) for row in rows]  # type: ignore[call-arg]

    async def tenant(self, slug: str) -> Tenant | None:
        stmt = select(Tenant).where(Tenant.slug == slug, Tenant.deleted_at.is_(None))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def usage(self, tenant_id: uuid.UUID) -> TenantUsage | None:
        return await self.session.get(TenantUsage, tenant_id)

    async def incidents(
        self, *, tenant_id: uuid.UUID | None = None, limit: int = 20
    ) -> Sequence[Incident]:
        """The newest incidents (of one tenant, or of the fleet), newest first."""
        stmt = select(Incident).order_by(Incident.opened_at.desc(), Incident.id.desc())
        if tenant_id is not None:
            stmt = stmt.where(Incident.tenant_id == tenant_id)
        return (await self.session.execute(stmt.limit(limit))).scalars().all()

    async def latest_rollout(self) -> Rollout | None:
        stmt = select(Rollout).order_by(Rollout.created_at.desc()).limit(1)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def blueprint_versions(self) -> list[str]:
        stmt = select(Blueprint.version).order_by(Blueprint.created_at)
        return list((await self.session.execute(stmt)).scalars().all())
