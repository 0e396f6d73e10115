"""`density`: N live tenants on this host (300 in full mode), and what they cost.

A real Berth (API, one Celery worker at the default concurrency, beat, watcher; beat
with an hour's schedule so that the sweeps measured here are the only ones). Every
tenant is the sample blueprint on a plan with small limits and an idle policy
(idle_after 1 s, so the idle sweep's worst case, every tenant looking idle, is what
is measured).

1. Bring-up: N signups (8 client threads, admin key), wall time until all run, and
   the time per 50 as the fleet grows (the first sign of anything slowing).
2. The host at N: dockerd's CPU over 10 s, 5 s in quick mode (the sample image's
   HEALTHCHECK execs every 2 s in every container), PostgreSQL connections, Berth's
   processes (PSS, open fds: bench.rss).
3. One reconcile sweep, run as the beat task runs it (bench.reconcile's harness):
   engine calls by kind (must be one list call, no inspect per tenant) and wall time,
   beside the raw `docker ps`-equivalent list call.
4. One idle sweep (the first of a pair: one sample per tenant, host counters where
   visible, else a one-shot stats call; the second would pause them all), beside
   one-shot engine stats calls for the same tenants made directly.
5. One metrics scrape (GET /metrics), at N beside at 0 tenants.
6. A rollout of all N to version 2 at max_parallel 10, beside the ideal canary +
   ⌈(N-1)/C⌉ × one replace, one replace measured first (deploy of one, rolled back).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import docker.errors
import docker.utils
import httpx
from sqlalchemy import text

from bench import procmem, rss
from bench.harness import Benchmark, Row, RunConfig, percentile
from bench.idle import _plan
from bench.leftovers import remove_all
from bench.pyspy import PySpy
from bench.reconcile import CheckRow
from bench.reconcile import Measurement as ReconcileMeasurement
from bench.reconcile import _sweeps as reconcile_sweeps
from bench.rollout import PARALLEL, _check_clean, deploy, remove_networks, roll_back
from bench.stack import BenchStack, berth_stack
from controlplane.db import make_engine
from provisioner.context import build_context
from provisioner.idle import idle_sweep
from provisioner.runtime.docker import CountingAPIClient, DockerBackend
from provisioner.runtime.factory import host_counters

NAME = "density"
QUICK_TENANTS = 20
FULL_TENANTS = 300
LIMITS = {"memory_mb": 32, "cpu": 0.1}
SCRAPES = 5
DOCKERD_WINDOW = 10.0
QUICK_DOCKERD_WINDOW = 5.0  # still two and a half HEALTHCHECK periods (2 s)

Log = Callable[[str], None]


@dataclass
class Measurement:
    n: int = 0
    dockerd_window: float = DOCKERD_WINDOW
    up_seconds: float = 0.0
    progress: list[tuple[int, float]] = field(default_factory=list)
    dockerd_idle: float | None = None  # cores
    dockerd_loaded: float | None = None
    host_busy_loaded: float | None = None
    pg_connections: int = 0
    before: dict[str, procmem.TreeUsage] = field(default_factory=dict)
    after: dict[str, procmem.TreeUsage] = field(default_factory=dict)
    reconcile: ReconcileMeasurement = field(default_factory=ReconcileMeasurement)
    idle_ms: float = 0.0
    idle_calls: int = 0
    idle_sampled: int = 0
    idle_raw_ms: float = 0.0
    scrape_idle_ms: list[float] = field(default_factory=list)
    scrape_ms: list[float] = field(default_factory=list)
    scrape_bytes: int = 0
    single: float = 0.0
    rollout_seconds: float = 0.0
    rollout_client: float = 0.0
    rollout_done: int = 0
    cleanup_seconds: float = 0.0


def dockerd_cores(window: float = DOCKERD_WINDOW) -> float | None:
    """dockerd's CPU use over `window` seconds, in cores."""
    pid = procmem.pid_of("dockerd")
    if pid is None:
        return None
    a = procmem.cpu_seconds(pid)
    time.sleep(window)
    b = procmem.cpu_seconds(pid)
    return None if a is None or b is None else (b - a) / window


def scrape(client: httpx.Client, n: int) -> tuple[list[float], int]:
    out, size = [], 0
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get("/metrics")
        out.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
        size = len(r.content)
    return out, size


async def _pg_connections(url: str) -> int:
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            value = await conn.scalar(text("SELECT count(*) FROM pg_stat_activity"))
            return int(value or 0)
    finally:
        await engine.dispose()


def idle_sweep_once(bs: BenchStack, m: Measurement) -> None:
    settings = bs.stack.settings
    ctx = build_context(settings)
    api = CountingAPIClient(version="auto", timeout=60, **docker.utils.kwargs_from_env())
    # As the worker's: the host's counters when visible (BERTH_STATS_SOURCE=auto).
    ctx.backend = DockerBackend(
        api, network=settings.tenant_network, host_counters=host_counters(settings)
    )

    async def measure() -> None:
        # The worker's loop has a 64-thread executor (provisioner/context.py).
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=64))
        try:
            before = api.calls["GET"]
            t0 = time.perf_counter()
            result = await idle_sweep(ctx, enqueue=lambda _tid, _d: None)
            m.idle_ms = (time.perf_counter() - t0) * 1000
            m.idle_calls = api.calls["GET"] - before
            m.idle_sampled = result.sampled
            label = f"berth.instance={settings.instance}"
            ids = [c["Id"] for c in api.containers(filters={"label": label})]
            gate = asyncio.Semaphore(settings.idle_concurrency)

            async def one(cid: str) -> None:
                async with gate:
                    await asyncio.to_thread(api.stats, cid, stream=False, one_shot=True)

            t0 = time.perf_counter()
            await asyncio.gather(*(one(c) for c in ids))
            m.idle_raw_ms = (time.perf_counter() - t0) * 1000
        finally:
            ctx.redis.close()
            await ctx.engine.dispose()

    try:
        asyncio.run(measure())
    finally:
        api.close()


def _measure(bs: BenchStack, m: Measurement, log: Log) -> None:
    client = bs.client
    pgids = rss.start_side_processes(bs)
    plan = _plan(client, idle_after=1, pause_mode="freeze")
    time.sleep(rss.SETTLE)
    m.before = rss.measure(pgids)
    m.scrape_idle_ms, _ = scrape(client, SCRAPES)
    m.dockerd_idle = dockerd_cores(m.dockerd_window)
    log(f"  idle: {rss.describe(m.before)}; dockerd {m.dockerd_idle} cores")

    slugs = [f"dn{uuid.uuid4().hex[:5]}-{i:03d}" for i in range(m.n)]
    t0 = time.monotonic()
    with (
        PySpy(f"provision-{m.n}-worker", pgids["worker"]),
        PySpy(f"provision-{m.n}-api", bs.api_pid),
    ):
        rss.sign_up(client, slugs, {"plan": plan, "limits": LIMITS})
        m.progress = rss.wait_running(client, slugs, t0, log)
    m.up_seconds = time.monotonic() - t0

    time.sleep(rss.SETTLE)
    m.after = rss.measure(pgids)
    m.pg_connections = asyncio.run(_pg_connections(bs.stack.settings.require_database_url()))
    from bench.report import busy_cores

    m.host_busy_loaded = busy_cores(5.0)
    m.dockerd_loaded = dockerd_cores(m.dockerd_window)
    log(
        f"  at {m.n}: {rss.describe(m.after)}; dockerd {m.dockerd_loaded} cores; host "
        f"{m.host_busy_loaded} cores busy; {m.pg_connections} PostgreSQL connections"
    )

    asyncio.run(reconcile_sweeps(bs.stack.settings, 3, False, m.reconcile, log))
    first, second = m.reconcile.fresh[0], m.reconcile.fresh[1]
    log(
        f"  reconcile: first {first.wall * 1000:.0f} ms ({first.describe()}), second "
        f"{second.wall * 1000:.0f} ms ({second.describe()})"
    )
    idle_sweep_once(bs, m)
    log(
        f"  idle sweep: {m.idle_ms:.0f} ms, {m.idle_calls} engine GETs, {m.idle_sampled} "
        f"sampled; raw stats {m.idle_raw_ms:.0f} ms"
    )
    m.scrape_ms, m.scrape_bytes = scrape(client, SCRAPES)
    log(f"  metrics scrape p50 {percentile(m.scrape_ms, 50):.0f} ms, {m.scrape_bytes} bytes")

    one = deploy(client, [slugs[0]], 1)
    m.single = one.target_seconds()[0]
    roll_back(client, one)
    log(f"  one replace {m.single:.2f}s; rolling all {m.n} at max_parallel {PARALLEL}")
    with PySpy(f"rollout-{m.n}-worker", pgids["worker"]):
        big = deploy(client, slugs, PARALLEL)
    m.rollout_seconds, m.rollout_client = big.api_seconds, big.client_seconds
    m.rollout_done = int(big.body["counts"].get("done", 0))
    log(f"  rollout of {m.n}: {m.rollout_seconds:.1f}s ({m.rollout_done} done)")


def run(cfg: RunConfig, log: Log = print) -> list[Row]:
    m = Measurement(
        n=FULL_TENANTS if cfg.full else QUICK_TENANTS,
        dockerd_window=DOCKERD_WINDOW if cfg.full else QUICK_DOCKERD_WINDOW,
    )
    stuck: list[str] = []
    instance, measured = "", False
    try:
        with berth_stack("bdens") as bs:
            instance = bs.instance
            try:
                _measure(bs, m, log)
                measured = True
            finally:
                rss.stop_processes(bs)
                m.cleanup_seconds = remove_all(instance)
                log(f"  containers and volumes removed in {m.cleanup_seconds:.0f}s")
                # After hundreds of removals the engine may lag on the network's
                # endpoint count (moby/moby#42119): retry before stop_stack's one try.
                stuck = remove_networks(instance, log, tries=60)
    except docker.errors.APIError as exc:
        # stop_stack's network removal; the rest of the stack is gone by then.
        if not measured or "active endpoints" not in str(exc):
            raise
    _check_clean(instance, stuck)
    return rows(m)


def _growth(progress: list[tuple[int, float]]) -> str:
    parts, prev_n, prev_t = [], 0, 0.0
    for count, at in progress:
        if count > prev_n:
            parts.append(f"{prev_n}→{count}: {(at - prev_t) / (count - prev_n) * 1000:.0f} ms")
            prev_n, prev_t = count, at
    return "; ".join(parts)


def rows(m: Measurement) -> list[Row]:
    n, c = m.n, PARALLEL
    rec = m.reconcile
    first, second = rec.fresh[0], rec.fresh[1]
    ideal = m.single * (1 + -(-(n - 1) // c))
    out: list[Row] = [
        Row(
            NAME,
            f"{n} tenants: signups → all running",
            m.up_seconds,
            None,
            "s",
            samples=1,
            note=f"per tenant as the fleet grew: {_growth(m.progress)}",
        ),
        CheckRow(
            NAME,
            f"reconcile sweep at {n}: engine calls",
            float(second.total),
            None,
            "calls",
            passed=second.urls["list"] == 1 and second.mutating == 0,
            check="1 list, 0 mutating",
            note=f"first sweep: {first.describe()}; second: {second.describe()}",
        ),
        Row(
            NAME,
            f"reconcile sweep at {n}: wall time (second sweep)",
            second.wall * 1000,
            statistics.median(rec.fresh_raw_ms),
            "ms",
            samples=1,
            note=f"first sweep {first.wall * 1000:.0f} ms; baseline: the raw list call alone",
        ),
        Row(
            NAME,
            f"idle sweep at {n} (every tenant sampled)",
            m.idle_ms,
            m.idle_raw_ms,
            "ms",
            samples=1,
            note=f"{m.idle_calls} engine GETs, {m.idle_sampled} sampled; baseline: the same "
            "one-shot stats calls made directly",
        ),
        Row(
            NAME,
            f"metrics scrape p50 at {n} vs 0 tenants",
            percentile(m.scrape_ms, 50),
            percentile(m.scrape_idle_ms, 50),
            "ms",
            samples=SCRAPES,
            note=f"{m.scrape_bytes} bytes at {n}",
        ),
        Row(
            NAME,
            f"rollout of {n} to v2, max_parallel {c} vs canary + ⌈(N-1)/C⌉ × one replace",
            m.rollout_seconds,
            ideal,
            "s",
            max_ratio=1.3,
            samples=1,
            note=f"one replace {m.single:.2f} s; client saw completion after "
            f"{m.rollout_client:.1f} s; {m.rollout_done}/{n} done",
        ),
        Row(
            NAME,
            f"dockerd CPU at {n} tenants vs 0",
            m.dockerd_loaded or 0.0,
            m.dockerd_idle,
            "cores",
            samples=1,
            note=f"host {m.host_busy_loaded} cores busy at {n}; {m.pg_connections} "
            "PostgreSQL connections",
        ),
    ]
    out += rss.memory_rows(NAME, m.before, m.after, n)
    return out


BENCHMARK = Benchmark(NAME, "N live tenants: bring-up, sweeps, scrape, memory, rollout", run)
