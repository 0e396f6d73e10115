"""All tenant_events and tenant_usage queries."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.models import TenantEvent

# A late SSE client first gets this many of the tenant's most recent events.
HISTORY = 50


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def recent(self, tenant_id: uuid.UUID, *, limit: int = HISTORY) -> list[TenantEvent]:
        """The tenant's newest `limit` events, oldest first."""
        stmt = (
            select(TenantEvent)
            .where(TenantEvent.tenant_id == tenant_id)
            .order_by(TenantEvent.id.desc())
            .limit(limit)
        )
        return list(reversed((await self.session.execute(stmt)).scalars().all()))

    async def after(
        self,
        tenant_id: uuid.UUID | None,
        after_id: int,
        *,
        kinds: Sequence[str] = (),
        limit: int = 500,
        recent_since: datetime | None = None,
    ) -> Sequence[TenantEvent]:
        """Events newer than `after_id` (and, with `recent_since`, any written since
        then), oldest first; every tenant's when tenant_id is None."""
        newer = TenantEvent.id > after_id
        if recent_since is not None:
            newer = or_(newer, TenantEvent.at >= recent_since)
        stmt = select(TenantEvent).where(newer)
        if tenant_id is not None:
            stmt = stmt.where(TenantEvent.tenant_id == tenant_id)
        if kinds:
            stmt = stmt.where(TenantEvent.kind.in_(kinds))
        stmt = stmt.order_by(TenantEvent.id).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()

    async def seen_before(
        self, tenant_id: uuid.UUID | None, upto: int, since: datetime
    ) -> dict[int, datetime]:
        """Ids (and times) of events up to `upto` written since `since`: what a new
        stream counts as already delivered when it starts."""
        stmt = select(TenantEvent.id, TenantEvent.at).where(
            TenantEvent.id <= upto, TenantEvent.at >= since
        )
        if tenant_id is not None:
            stmt = stmt.where(TenantEvent.tenant_id == tenant_id)
        rows = (await self.session.execute(stmt)).all()
        return {int(row[0]): row[1] for row in rows}

    async def last_id(self) -> int:
        """The newest event id of the whole fleet (0 when there is none)."""
        stmt = select(TenantEvent.id).order_by(TenantEvent.id.desc()).limit(1)
        return (await self.session.execute(stmt)).scalar_one_or_none() or 0

    async def record_step(
        self, tenant_id: uuid.UUID, *, generation: int, kind: str, detail: dict[str, Any]
    ) -> bool:
        """Append a provisioning step, fenced by the generation like observed writes:
        a task acting on an old generation records nothing. One statement."""
        result = await self.session.execute(
            text(
                "INSERT INTO tenant_events (tenant_id, slug, kind, detail) "
                "SELECT id, slug, :kind, CAST(:detail AS jsonb) FROM tenants "
                "WHERE id = :id AND generation = :gen AND deleted_at IS NULL"
            ),
            {"id": tenant_id, "gen": generation, "kind": kind, "detail": json.dumps(detail)},
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def hint_wake_started(self, started: float) -> None:
        """Tell the lifecycle trigger, for this transaction only, when a wake began
        (epoch seconds): it measures the wake latency from there, not from the commit."""
        await self.session.execute(
            text("SELECT set_config('berth.wake_started', :at, true)"), {"at": repr(started)}
        )
