"""All blueprint queries."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.models import Blueprint


class BlueprintRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, version: str) -> Blueprint | None:
        return await self.session.get(Blueprint, version)

    async def current(self) -> Blueprint | None:
        stmt = select(Blueprint).where(Blueprint.is_current.is_(True))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def all(self) -> Sequence[Blueprint]:
        stmt = select(Blueprint).order_by(Blueprint.created_at)
        return (await self.session.execute(stmt)).scalars().all()

    async def clear_current(self) -> None:
        await self.session.execute(
            update(Blueprint).where(Blueprint.is_current.is_(True)).values(is_current=False)
        )

    def add(self, blueprint: Blueprint) -> None:
        self.session.add(blueprint)
