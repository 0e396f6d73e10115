"""The usage sampler: measured CPU and memory of every running tenant, into PostgreSQL.

Runs on beat every usage_sample_interval. One query lists the running tenants, one
sample per container (host counters, else an engine stats call; bounded concurrency,
as in the idle sweep), then
one upsert and one delete, whatever the fleet size. The CPU rate is the difference to
the previous sample of the same container, so the first sample of a container has
none. The API's /metrics and dashboard read the table; nothing is kept in memory.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from controlplane.events.usage import UsageRepository, UsageRow
from provisioner.context import WorkerContext
from provisioner.locks import try_lock
from provisioner.runtime.base import RuntimeBackendError

log = structlog.get_logger(__name__)

USAGE_LOCK = 0x62657274685F7573  # "berth_us"


@dataclass(frozen=True)
class Measured:
    cpu_ns: int
    memory_bytes: int


def measure(stats: dict[str, Any]) -> Measured:
    """CPU time used so far and memory in use, as `docker stats` counts it (page cache
    that can be dropped, inactive_file, does not count)."""
    cpu = int(((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage") or 0)
    mem = stats.get("memory_stats") or {}
    inner = mem.get("stats") or {}
    cache = int(inner.get("inactive_file", inner.get("total_inactive_file", 0)) or 0)
    used = int(mem.get("usage") or 0)
    return Measured(cpu_ns=cpu, memory_bytes=max(used - cache, 0))


def cpu_rate(prev: UsageRow | None, container_id: str, cpu_ns: int, at: datetime) -> float | None:
    """Cores used since the previous sample of the same container, if there is one."""
    if prev is None or prev.container_id != container_id or cpu_ns < prev.cpu_ns:
        return None
    dt = (at - prev.sampled_at).total_seconds()
    return (cpu_ns - prev.cpu_ns) / 1e9 / dt if dt > 0 else None


async def sample_usage(ctx: WorkerContext) -> int:
    """Sample every running tenant once; returns how many were measured."""
    async with try_lock(ctx.engine, USAGE_LOCK) as got:
        if not got:
            return 0
        async with ctx.sessionmaker() as session:
            repo = UsageRepository(session)
            running = await repo.running_containers()
            previous = await repo.previous()
        gate = asyncio.Semaphore(ctx.settings.idle_concurrency)

        async def one(tenant_id: uuid.UUID, container_id: str) -> UsageRow | None:
            async with gate:
                try:
                    stats = await asyncio.to_thread(ctx.backend.stats, container_id)
                except RuntimeBackendError:
                    return None  # gone or stopped: the reconciler deals with it
            at = datetime.now(UTC)
            m = measure(stats)
            if m.cpu_ns == 0 and m.memory_bytes == 0:
                return None  # not running by the time it was asked
            rate = cpu_rate(previous.get(tenant_id), container_id, m.cpu_ns, at)
            return UsageRow(tenant_id, container_id, m.cpu_ns, rate, m.memory_bytes, at)

        started = time.monotonic()
        rows = [r for r in await asyncio.gather(*(one(t, c) for t, c in running)) if r]
        async with ctx.sessionmaker() as session:
            repo = UsageRepository(session)
            await repo.upsert(rows)
            await repo.forget_except([t for t, _ in running])
            await session.commit()
        log.debug("usage_sampled", tenants=len(rows), seconds=round(time.monotonic() - started, 3))
        return len(rows)
