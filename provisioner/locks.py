"""Per-tenant mutual exclusion with PostgreSQL advisory locks.

A session-level advisory lock lives exactly as long as its connection: a worker
killed with SIGKILL drops its connection and so its locks, with no TTL to tune.

Every tenant operation holds two pooled connections at its peak (the lock's, and a
session's for its reads and writes), so a process runs at most as many at once as
its engine's pool holds pairs; the rest wait for a slot here. Without that, a burst
of signups over BERTH_WORKER_CONCURRENCY ~14, or a rollout with a large max_parallel,
ran out of pooled connections and tasks failed with the pool's TimeoutError.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# Connections left for work outside tenant operations (sweeps, a rollout's driver).
RESERVED_CONNECTIONS = 2

_slots: weakref.WeakKeyDictionary[AsyncEngine, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def operation_slots(engine: AsyncEngine) -> asyncio.Semaphore:
    """How many tenant operations may run at once on `engine` (its pool's pairs)."""
    slots = _slots.get(engine)
    if slots is None:
        pool = engine.sync_engine.pool
        capacity = int(getattr(pool, "size", lambda: 5)()) + int(getattr(pool, "_max_overflow", 0))
        slots = asyncio.Semaphore(max(1, (capacity - RESERVED_CONNECTIONS) // 2))
        _slots[engine] = slots
    return slots


def lock_key(tenant_id: uuid.UUID) -> int:
    return int.from_bytes(tenant_id.bytes[:8], "big", signed=True)


@asynccontextmanager
async def tenant_lock(engine: AsyncEngine, tenant_id: uuid.UUID) -> AsyncIterator[bool]:
    """Yield True if this task now owns the tenant, False if another task does."""
    async with operation_slots(engine), try_lock(engine, lock_key(tenant_id)) as got:
        yield got


async def is_held(engine: AsyncEngine, tenant_id: uuid.UUID) -> bool:
    """True while some task owns the tenant (its connection, hence its process, is alive)."""
    async with try_lock(engine, lock_key(tenant_id)) as got:
        return not got


@asynccontextmanager
async def try_lock(engine: AsyncEngine, key: int) -> AsyncIterator[bool]:
    """A process-wide advisory lock on `key` (sweeps use it so they never overlap)."""
    async with engine.connect() as conn:
        got = bool(
            (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar()
        )
        await conn.commit()
        try:
            yield got
        finally:
            if got:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                await conn.commit()
