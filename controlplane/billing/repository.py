"""All ledger and statement queries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.models import BillingStatement, UsageEntry


class BillingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def entries_for_period(self, start: datetime, end: datetime) -> Sequence[UsageEntry]:
        """Every entry that starts inside [start, end), plus each tenant's last entry
        before `start` (the state it entered the period in), ordered per tenant."""
        carried = (
            select(UsageEntry.id)
            .where(UsageEntry.at < start)
            .distinct(UsageEntry.tenant_id)
            .order_by(UsageEntry.tenant_id, UsageEntry.seq.desc())
        )
        stmt = (
            select(UsageEntry)
            .where(
                ((UsageEntry.at >= start) & (UsageEntry.at < end))
                | UsageEntry.id.in_(carried.scalar_subquery())
            )
            .order_by(UsageEntry.tenant_id, UsageEntry.seq)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def entries_for_tenant(self, tenant_id: uuid.UUID, limit: int) -> Sequence[UsageEntry]:
        stmt = (
            select(UsageEntry)
            .where(UsageEntry.tenant_id == tenant_id)
            .order_by(UsageEntry.seq.desc())
            .limit(limit)
        )
        return list(reversed((await self.session.execute(stmt)).scalars().all()))

    async def statement(self, period: str) -> BillingStatement | None:
        return await self.session.get(BillingStatement, period)

    async def freeze(self, period: str, body: dict[str, Any]) -> BillingStatement:
        """Store the statement unless a concurrent export stored one first; return the
        stored one either way, so every caller serves the same bytes."""
        await self.session.execute(
            insert(BillingStatement)
            .values(period=period, body=body)
            .on_conflict_do_nothing(index_elements=["period"])
        )
        await self.session.flush()
        stored = (
            await self.session.execute(
                select(BillingStatement)
                .where(BillingStatement.period == period)
                .execution_options(populate_existing=True)
            )
        ).scalar_one()
        return stored

    async def now(self) -> datetime:
        """The database's clock, the one ledger timestamps come from."""
        value: datetime = (
            await self.session.execute(text("SELECT clock_timestamp()"))
        ).scalar_one()
        return value
