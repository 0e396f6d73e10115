"""All rollout queries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.models import Rollout, RolloutTarget, Tenant
from controlplane.models.base import utcnow

TARGET_STATES = ("pending", "upgrading", "done", "failed", "skipped")


class RolloutRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, obj: Rollout | RolloutTarget) -> None:
        self.session.add(obj)

    async def get(self, rollout_id: uuid.UUID, *, for_update: bool = False) -> Rollout | None:
        stmt = select(Rollout).where(Rollout.id == rollout_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def active(self) -> Rollout | None:
        stmt = select(Rollout).where(Rollout.active.is_(True))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def recent(self, *, limit: int) -> Sequence[Rollout]:
        stmt = select(Rollout).order_by(Rollout.created_at.desc()).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()

    async def targets(
        self, rollout_id: uuid.UUID, *, states: Sequence[str] | None = None
    ) -> Sequence[RolloutTarget]:
        stmt = select(RolloutTarget).where(RolloutTarget.rollout_id == rollout_id)
        if states is not None:
            stmt = stmt.where(RolloutTarget.state.in_(states))
        stmt = stmt.order_by(RolloutTarget.position)
        return (await self.session.execute(stmt)).scalars().all()

    async def targets_changed_since(
        self, rollout_id: uuid.UUID, since: Any
    ) -> Sequence[RolloutTarget]:
        stmt = (
            select(RolloutTarget)
            .where(RolloutTarget.rollout_id == rollout_id, RolloutTarget.updated_at > since)
            .order_by(RolloutTarget.updated_at, RolloutTarget.position)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def counts(self, rollout_id: uuid.UUID) -> dict[str, int]:
        stmt = (
            select(RolloutTarget.state, func.count())
            .where(RolloutTarget.rollout_id == rollout_id)
            .group_by(RolloutTarget.state)
        )
        out = dict.fromkeys(TARGET_STATES, 0)
        for state, n in (await self.session.execute(stmt)).all():
            out[state] = int(n)
        return out

    async def counts_for(self, rollout_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
        out: dict[uuid.UUID, dict[str, int]] = {
            rid: dict.fromkeys(TARGET_STATES, 0) for rid in rollout_ids
        }
        if not rollout_ids:
            return out
        stmt = (
            select(RolloutTarget.rollout_id, RolloutTarget.state, func.count())
            .where(RolloutTarget.rollout_id.in_(rollout_ids))
            .group_by(RolloutTarget.rollout_id, RolloutTarget.state)
        )
        for rid, state, n in (await self.session.execute(stmt)).all():
            out[rid][state] = int(n)
        return out

    async def selectable_tenants(
        self, *, slugs: Sequence[str] | None, plan: str | None
    ) -> Sequence[Tenant]:
        stmt = select(Tenant).where(Tenant.deleted_at.is_(None), Tenant.desired_state == "running")
        if slugs is not None:
            stmt = stmt.where(Tenant.slug.in_(slugs))
        if plan is not None:
            stmt = stmt.where(Tenant.plan == plan)
        stmt = stmt.order_by(Tenant.created_at, Tenant.id)
        return (await self.session.execute(stmt)).scalars().all()

    async def set_target(self, target_id: int, **values: Any) -> None:
        values["updated_at"] = utcnow()
        await self.session.execute(
            update(RolloutTarget).where(RolloutTarget.id == target_id).values(**values)
        )
