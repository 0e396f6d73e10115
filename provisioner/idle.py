"""The idle sweep: pause running tenants that nobody used for their plan's idle_after.

A tenant is active when, within idle_after, it served a request through the edge
(the gate's activity hash in Redis), it was started, resumed or deployed (its
state_changed_at / last_active_at), or its CPU or network use between two sweeps
rose above the configured thresholds (background jobs, websockets).

Only tenants that look idle by the first two signals are sampled (host counters, or
one-shot engine stats calls; see provisioner/runtime/cgroups.py), with bounded
concurrency. A tenant's first sample is a baseline: it is paused only when a second
sample, one sweep later, shows it quiet.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from redis.exceptions import RedisError

from controlplane.audit.service import record
from controlplane.edge.activity import mark_active, read_activity
from controlplane.models import Tenant
from controlplane.tenants.repository import TenantRepository
from provisioner.context import WorkerContext
from provisioner.locks import try_lock
from provisioner.runtime.base import RuntimeBackendError

log = structlog.get_logger(__name__)

SAMPLES_KEY = "berth:usage-samples"
IDLE_LOCK = 0x62657274685F6964  # "berth_id"

Enqueue = Callable[[str, float], None]


@dataclass(frozen=True)
class Sample:
    at: float
    container_id: str
    cpu_ns: int
    net_bytes: int

    @classmethod
    def from_stats(cls, at: float, container_id: str, stats: dict[str, Any]) -> Sample:
        cpu = int(((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage") or 0)
        nets = stats.get("networks") or {}
        net = sum(int(n.get("rx_bytes", 0)) + int(n.get("tx_bytes", 0)) for n in nets.values())
        return cls(at, container_id, cpu, net)


@dataclass
class IdleResult:
    candidates: int = 0
    sampled: int = 0
    busy: list[str] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)
    skipped: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "candidates": self.candidates,
            "sampled": self.sampled,
            "busy": len(self.busy),
            "paused": len(self.paused),
            "skipped": int(self.skipped),
            "seconds": round(self.seconds, 4),
        }


def is_busy(prev: Sample, cur: Sample, *, cpu_threshold: float, net_threshold: float) -> bool:
    """CPU cores or network bytes/s between two samples above either threshold."""
    dt = cur.at - prev.at
    if dt <= 0:
        return False
    cpu_rate = (cur.cpu_ns - prev.cpu_ns) / 1e9 / dt
    net_rate = (cur.net_bytes - prev.net_bytes) / dt
    return cpu_rate > cpu_threshold or net_rate > net_threshold


def last_activity(tenant: Tenant, edge_seen: float | None) -> float:
    times = [tenant.state_changed_at.timestamp(), edge_seen or 0.0]
    if tenant.last_active_at is not None:
        times.append(tenant.last_active_at.timestamp())
    return max(times)


async def idle_sweep(ctx: WorkerContext, *, enqueue: Enqueue) -> IdleResult:
    """One sweep; sweeps never overlap."""
    async with try_lock(ctx.engine, IDLE_LOCK) as got:
        if not got:
            return IdleResult(skipped=True)
        started = time.monotonic()
        result = await _sweep(ctx, enqueue=enqueue)
        result.seconds = time.monotonic() - started
        if result.paused or result.busy:
            log.info("idle_sweep", **result.as_dict())
        return result


async def _sweep(ctx: WorkerContext, *, enqueue: Enqueue) -> IdleResult:
    s = ctx.settings
    now = time.time()
    try:
        edge = await asyncio.to_thread(read_activity, ctx.redis)
        previous = await asyncio.to_thread(ctx.redis.hgetall, SAMPLES_KEY)
    except RedisError as exc:
        # Without the edge's activity an idle verdict could be wrong: pause nothing.
        log.warning("idle_sweep_no_redis", error_type=type(exc).__name__)
        return IdleResult(skipped=True)
    async with ctx.sessionmaker() as session:
        # Without a freezer (Swarm) only plans that pause by stopping are paused.
        modes = None if ctx.backend.supports_freeze else ("stop",)
        candidates = await TenantRepository(session).idle_candidates(pause_modes=modes)
    result = IdleResult(candidates=len(candidates))

    quiet = [
        t
        for t, idle_after in candidates
        if t.container_id and now - last_activity(t, edge.get(str(t.id))) >= idle_after
    ]
    samples = await _sample(ctx, quiet, now)
    result.sampled = len(samples)

    stale_after = 3 * s.idle_sweep_interval + 5
    to_pause: list[Tenant] = []
    for tenant in quiet:
        cur = samples.get(str(tenant.id))
        if cur is None:
            continue
        raw = previous.get(str(tenant.id).encode())
        prev = Sample(**json.loads(raw)) if raw else None
        if (
            prev is None
            or prev.container_id != cur.container_id
            or cur.at - prev.at > stale_after
            or cur.cpu_ns < prev.cpu_ns
        ):
            continue  # a baseline only: decide on the next sweep
        if is_busy(
            prev, cur, cpu_threshold=s.idle_cpu_threshold, net_threshold=s.idle_net_threshold
        ):
            result.busy.append(str(tenant.id))
        else:
            to_pause.append(tenant)

    if samples:
        encoded: dict[str | bytes, str] = {
            tid: json.dumps(sample.__dict__) for tid, sample in samples.items()
        }
        await asyncio.to_thread(lambda: ctx.redis.hset(SAMPLES_KEY, mapping=encoded))
    if result.busy:
        await asyncio.to_thread(mark_active, ctx.redis, result.busy, now)
    await _record_activity(ctx, edge, dict.fromkeys(result.busy, now))
    for tenant in to_pause:
        if await _pause(ctx, tenant, now - last_activity(tenant, edge.get(str(tenant.id)))):
            enqueue(str(tenant.id), 0.0)
            result.paused.append(tenant.slug)
    return result


async def _sample(ctx: WorkerContext, tenants: list[Tenant], now: float) -> dict[str, Sample]:
    gate = asyncio.Semaphore(ctx.settings.idle_concurrency)

    async def one(tenant: Tenant) -> tuple[str, Sample] | None:
        assert tenant.container_id is not None
        async with gate:
            try:
                stats = await asyncio.to_thread(ctx.backend.stats, tenant.container_id)
            except RuntimeBackendError:
                return None  # gone or stopped: the reconciler deals with it
        return str(tenant.id), Sample.from_stats(now, tenant.container_id, stats)

    done = await asyncio.gather(*(one(t) for t in tenants))
    return dict(d for d in done if d is not None)


async def _record_activity(
    ctx: WorkerContext, edge: dict[str, float], busy: dict[str, float]
) -> None:
    """Copy activity into PostgreSQL, so the API shows a tenant's last activity."""
    seen = {**edge, **busy}
    if not seen:
        return
    async with ctx.sessionmaker() as session:
        await TenantRepository(session).set_last_active(
            {uuid.UUID(tid): datetime.fromtimestamp(at, UTC) for tid, at in seen.items()}
        )
        await session.commit()


async def _pause(ctx: WorkerContext, tenant: Tenant, idle_seconds: float) -> bool:
    async with ctx.sessionmaker() as session:
        ok = await TenantRepository(session).request_pause(tenant.id)
        if ok:
            record(
                session,
                actor="berth",
                action="tenant.pause",
                target=f"tenant:{tenant.slug}",
                detail={"reason": "idle", "idle_seconds": round(idle_seconds, 1)},
            )
        await session.commit()
    return ok
