"""tenant_usage queries: the latest measured CPU and memory per running tenant."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.models import Tenant, TenantUsage


@dataclass(frozen=True)
class UsageRow:
    tenant_id: uuid.UUID
    container_id: str
    cpu_ns: int
    cpu_cores: float | None
    memory_bytes: int
    sampled_at: datetime


class UsageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def running_containers(self) -> list[tuple[uuid.UUID, str]]:
        """(tenant id, container id) of every live tenant whose container serves."""
        stmt = select(Tenant.id, Tenant.container_id).where(
            Tenant.deleted_at.is_(None),
            Tenant.state.in_(("running", "upgrading")),
            Tenant.container_id.is_not(None),
        )
        return [(t, str(c)) for t, c in (await self.session.execute(stmt)).all()]

    async def previous(self) -> dict[uuid.UUID, UsageRow]:
        rows = (await self.session.execute(select(TenantUsage))).scalars().all()
        return {
            r.tenant_id: UsageRow(
                r.tenant_id, r.container_id, r.cpu_ns, r.cpu_cores, r.memory_bytes, r.sampled_at
            )
            for r in rows
        }

    async def upsert(self, rows: Sequence[UsageRow]) -> None:
        """Write every sample in one statement."""
        if not rows:
            return
        await self.session.execute(
            text(
                "INSERT INTO tenant_usage "
                "(tenant_id, container_id, cpu_ns, cpu_cores, memory_bytes, sampled_at) "
                "SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:cids AS text[]), "
                "CAST(:cpu AS bigint[]), CAST(:cores AS float8[]), CAST(:mem AS bigint[]), "
                "CAST(:at AS timestamptz[])) "
                "ON CONFLICT (tenant_id) DO UPDATE SET container_id = EXCLUDED.container_id, "
                "cpu_ns = EXCLUDED.cpu_ns, cpu_cores = EXCLUDED.cpu_cores, "
                "memory_bytes = EXCLUDED.memory_bytes, sampled_at = EXCLUDED.sampled_at"
            ),
            {
                "ids": [r.tenant_id for r in rows],
                "cids": [r.container_id for r in rows],
                "cpu": [r.cpu_ns for r in rows],
                "cores": [r.cpu_cores for r in rows],
                "mem": [r.memory_bytes for r in rows],
                "at": [r.sampled_at for r in rows],
            },
        )

    async def forget_except(self, tenant_ids: Sequence[uuid.UUID]) -> None:
        """Drop the measurements of tenants that no longer run (paused, failed, gone)."""
        await self.session.execute(
            delete(TenantUsage).where(TenantUsage.tenant_id.not_in(list(tenant_ids)))
            if tenant_ids
            else delete(TenantUsage)
        )
