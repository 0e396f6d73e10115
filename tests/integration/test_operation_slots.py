"""Tenant operations beyond what the pool holds wait for a slot instead of failing."""

import asyncio
import uuid

from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from provisioner.locks import lock_key, operation_slots, tenant_lock, try_lock
from tests.fixtures.stack import Stack

OPERATIONS = 8


def _small_engine(stack: Stack) -> AsyncEngine:
    # Room for two operations (6 connections, 2 reserved); a short pool wait so that
    # running out of connections shows as the pool's TimeoutError quickly.
    return create_async_engine(
        stack.settings.require_database_url(), pool_size=4, max_overflow=2, pool_timeout=0.5
    )


async def _operation(engine: AsyncEngine, lock: object) -> None:
    """Hold the tenant's lock and, inside it, a second connection for a while."""
    async with lock as owned:  # type: ignore[attr-defined]
        assert owned
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_sleep(0.7)"))


async def test_unbounded_operations_exhaust_the_pool(stack: Stack) -> None:
    """Control: the same operations on bare advisory locks run out of connections."""
    engine = _small_engine(stack)
    try:
        key = lock_key
        ops = [_operation(engine, try_lock(engine, key(uuid.uuid4()))) for _ in range(OPERATIONS)]
        results = await asyncio.gather(*ops, return_exceptions=True)
        assert any(isinstance(r, PoolTimeout) for r in results), results
    finally:
        await engine.dispose()


async def test_tenant_locks_queue_for_a_slot_and_all_finish(stack: Stack) -> None:
    engine = _small_engine(stack)
    try:
        assert operation_slots(engine)._value == 2
        ops = [_operation(engine, tenant_lock(engine, uuid.uuid4())) for _ in range(OPERATIONS)]
        await asyncio.gather(*ops)
    finally:
        await engine.dispose()
