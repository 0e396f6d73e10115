"""Per-tenant mutual exclusion with PostgreSQL advisory locks.

A session-level advisory lock lives exactly as long as its connection: a worker
killed with SIGKILL drops its connection and so its locks, with no TTL to tune.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


def lock_key(tenant_id: uuid.UUID) -> int:
    return int.from_bytes(tenant_id.bytes[:8], "big", signed=True)


@asynccontextmanager
async def tenant_lock(engine: AsyncEngine, tenant_id: uuid.UUID) -> AsyncIterator[bool]:
    """Yield True if this task now owns the tenant, False if another task does."""
    async with try_lock(engine, lock_key(tenant_id)) as got:
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
