"""Retention of tenant_events: old events go, their counts stay.

Runs on beat hourly. Events older than BERTH_EVENT_RETENTION_DAYS (0 keeps all) are
deleted in batches of BATCH, each batch one transaction that first adds the counted
kinds to tenant_event_rollup (EventRepository.prune_batch), so the lifecycle
counters and histograms of /metrics never change by a prune and the scrape's
aggregate stays bounded by what happened within the retention window.

An advisory lock keeps two runs (beat twice, a slow run overlapping the next) from
working side by side; correctness does not rest on it: a batch folds only the rows
its own DELETE removed, so overlapping runs still count each event once.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from controlplane.events.repository import EventRepository
from controlplane.settings import Settings
from provisioner.context import WorkerContext
from provisioner.locks import try_lock

log = structlog.get_logger(__name__)

PRUNE_LOCK = 0x62657274685F7072  # "berth_pr"
# Events per transaction: short enough not to hold locks or bloat one transaction,
# large enough that a backlog of millions takes minutes, not hours.
BATCH = 5000


@dataclass(frozen=True)
class PruneResult:
    deleted: int = 0
    folded: int = 0
    batches: int = 0
    skipped: bool = False  # another run held the lock, or retention is off

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


async def prune_events(ctx: WorkerContext) -> PruneResult:
    """The beat task's body: prune past the configured retention."""
    return await prune_expired(ctx.settings, ctx.engine, ctx.sessionmaker)


async def prune_expired(
    settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> PruneResult:
    """Prune events older than event_retention_days; nothing when it is 0 (keep all)."""
    days = settings.event_retention_days
    if days <= 0:
        return PruneResult(skipped=True)
    cutoff = datetime.now(UTC) - timedelta(days=days)
    return await prune_before(engine, sessionmaker, cutoff)


async def prune_before(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    cutoff: datetime,
    *,
    batch: int = BATCH,
) -> PruneResult:
    """Fold and delete every event older than `cutoff`, `batch` per transaction."""
    async with try_lock(engine, PRUNE_LOCK) as got:
        if not got:
            log.info("events_prune_skipped", reason="another prune is running")
            return PruneResult(skipped=True)
        started = time.monotonic()
        deleted = folded = batches = 0
        while True:
            async with sessionmaker() as session:
                done = await EventRepository(session).prune_batch(cutoff, limit=batch)
                await session.commit()
            deleted += done.deleted
            folded += done.folded
            batches += 1
            # A short batch is the last: what is left is newer (or, without the lock,
            # held by another prune that will fold it).
            if done.deleted < batch:
                break
        log.info(
            "events_pruned",
            deleted=deleted,
            folded=folded,
            batches=batches,
            seconds=round(time.monotonic() - started, 3),
        )
        return PruneResult(deleted=deleted, folded=folded, batches=batches)
