"""All tenant_events and tenant_usage queries."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.metrics.repository import BOUNDS, COUNTED_KINDS, bound_key
from controlplane.models import TenantEvent

# A late SSE client first gets this many of the tenant's most recent events.
HISTORY = 50


def _fold_sql() -> str:
    """Delete one batch of old events and add the counted ones to tenant_event_rollup,
    in one statement (so one transaction: a crash neither loses nor double-counts).

    The batch is locked with SKIP LOCKED, and only the rows this statement actually
    deleted (its RETURNING) are folded: two prunes at once take disjoint batches, and
    a row some other transaction deleted first is never counted here. The rollup row
    is an upsert that adds to what is there; ON CONFLICT serialises concurrent folds
    of the same kind on that row."""
    buckets = ", ".join(
        f"'{bound_key(b)}', count(*) FILTER "
        f"(WHERE duration_seconds <= CAST(:b{i} AS double precision))"
        for i, b in enumerate(BOUNDS)
    )
    return f"""
WITH doomed AS (
    DELETE FROM tenant_events
     WHERE id IN (SELECT id FROM tenant_events WHERE at < :cutoff
                   LIMIT :limit FOR UPDATE SKIP LOCKED)
    RETURNING kind, duration_seconds
), folded AS (
    INSERT INTO tenant_event_rollup AS r (kind, count, timed, duration_sum, buckets)
    SELECT kind, count(*), count(duration_seconds),
           COALESCE(sum(CAST(duration_seconds AS numeric)), 0),
           jsonb_build_object({buckets})
      FROM doomed WHERE kind = ANY(:kinds) GROUP BY kind
    ON CONFLICT (kind) DO UPDATE SET
        count = r.count + excluded.count,
        timed = r.timed + excluded.timed,
        duration_sum = r.duration_sum + excluded.duration_sum,
        buckets = (SELECT jsonb_object_agg(
                       k, COALESCE((r.buckets ->> k)::bigint, 0)
                          + COALESCE((excluded.buckets ->> k)::bigint, 0))
                     FROM jsonb_object_keys(r.buckets || excluded.buckets) AS k)
    RETURNING kind
)
SELECT (SELECT count(*) FROM doomed),
       (SELECT count(*) FROM doomed WHERE kind = ANY(:kinds)),
       (SELECT count(*) FROM folded)
"""


FOLD = text(_fold_sql())


@dataclass(frozen=True)
class PrunedBatch:
    deleted: int  # events removed from tenant_events
    folded: int  # of those, events of counted kinds added to the rollup


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

    async def prune_batch(self, cutoff: datetime, *, limit: int) -> PrunedBatch:
        """Delete up to `limit` events older than `cutoff` (every kind), folding the
        counted kinds into tenant_event_rollup first; the caller commits. Rows another
        prune holds are skipped, so a batch smaller than `limit` may leave some."""
        params: dict[str, Any] = {"cutoff": cutoff, "limit": limit, "kinds": list(COUNTED_KINDS)}
        params |= {f"b{i}": b for i, b in enumerate(BOUNDS)}
        deleted, folded, _ = (await self.session.execute(FOLD, params)).one()
        return PrunedBatch(deleted=int(deleted), folded=int(folded))
