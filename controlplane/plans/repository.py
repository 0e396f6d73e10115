"""All plan queries."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.models import Plan


class PlanRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, name: str, *, for_update: bool = False) -> Plan | None:
        return await self.session.get(Plan, name, with_for_update=for_update)

    def add(self, plan: Plan) -> None:
        self.session.add(plan)

    async def all(self) -> Sequence[Plan]:
        return (await self.session.execute(select(Plan).order_by(Plan.name))).scalars().all()
