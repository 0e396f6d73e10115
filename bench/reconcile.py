"""`reconcile`: one reconcile sweep over many live tenants, its time and engine calls.

N tenants (quick 50, full 100) are signed up through the API (real uvicorn + Celery
worker) and waited for until every one is running. Then, in this process, sweeps run
exactly as the beat task runs them: `ctx = build_context(settings)` and
`await provisioner.reconcile.reconcile(ctx, enqueue=...)` (the enqueue only
records; no beat or watcher runs, so nothing else touches the tenants).

Engine calls are counted twice over: `ctx.backend.api.calls` (CountingAPIClient, by
HTTP method) for the totals, and a requests response hook on the same client for
which URL each call hit (the container list `GET /containers/json`, or an inspect).

Baseline: the raw engine's single `docker ps`-equivalent call,
`api.containers(all=True, filters={"label": "berth.instance=<instance>"})`, timed in
the same run and interleaved with the warm sweeps. The verdict is the "O(1) calls"
check: pass iff the second sweep (an unchanged world) makes exactly one list call
and no mutating call.

Right after creation most containers are under a minute old, and for those the
sweep's missed-restart check (uptime from `docker ps` status text against the time
since the tenant's last state change) may inspect some. `--full` therefore also
waits until every container is up over a minute and sweeps again: that steady world
must cost exactly one engine call per sweep.

Clean-up removes the containers and volumes in parallel (stop_stack's one-by-one
removal takes minutes for a hundred) and then checks nothing is left.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import docker.utils

from bench.harness import Benchmark, Row, RunConfig, percentile
from bench.leftovers import check_clean, remove_all
from bench.stack import BenchStack, berth_stack
from controlplane.settings import Settings
from controlplane.tenants.repository import TenantRepository
from provisioner.context import build_context
from provisioner.reconcile import reconcile, uptime_seconds
from provisioner.runtime.docker import MUTATING, CountingAPIClient, DockerBackend
from provisioner.spec import LABEL_INSTANCE

NAME = "reconcile"
QUICK_TENANTS = 50
FULL_TENANTS = 100
QUICK_WARM = 10
FULL_WARM = 30
CREATE_TIMEOUT = 600.0
WORKER_CONCURRENCY = 16

Log = Callable[[str], None]


@dataclass(frozen=True)
class CheckRow(Row):
    """A row whose verdict is a check rather than a ratio."""

    passed: bool = False
    check: str = ""

    @property
    def target(self) -> str:
        return self.check

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "miss"


@dataclass
class Sweep:
    wall: float  # seconds
    calls: Counter[str]  # by HTTP method
    urls: Counter[str]  # "list" | "inspect" | "other"
    list_seconds: float  # the engine list call inside the sweep (requests' elapsed)
    enqueued: int
    result: dict[str, int]

    @property
    def mutating(self) -> int:
        return sum(self.calls[m] for m in MUTATING)

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def describe(self) -> str:
        other = self.calls["GET"] - self.urls["list"]
        return (
            f"{self.urls['list']} list GET, {other} other GET "
            f"({self.urls['inspect']} inspect), {self.mutating} mutating, "
            f"{self.enqueued} enqueued"
        )


@dataclass
class Measurement:
    tenants: int = 0
    containers: int = 0
    create_seconds: float = 0.0
    raw_first_ms: float = 0.0  # the raw client's first list call, beside the first sweep
    fresh: list[Sweep] = field(default_factory=list)  # [first, second, warm...]
    fresh_raw_ms: list[float] = field(default_factory=list)
    steady: list[Sweep] = field(default_factory=list)  # full mode: every container > 1 min up
    steady_raw_ms: list[float] = field(default_factory=list)
    steady_wait_seconds: float = 0.0
    db_ms: list[float] = field(default_factory=list)  # the sweep's tenants query, alone
    inspect_ms: list[float] = field(default_factory=list)  # inspects made by sweeps
    cleanup_seconds: float = 0.0


def _kind(path: str) -> str:
    if path.endswith("/containers/json"):
        return "list"
    if path.endswith("/json") and "/containers/" in path:
        return "inspect"
    return "other"


async def _sweeps(settings: Settings, warm: int, steady: bool, m: Measurement, log: Log) -> None:
    ctx = build_context(settings)
    backend = ctx.backend
    if not isinstance(backend, DockerBackend):
        raise RuntimeError(f"expected a DockerBackend, got {type(backend).__name__}")
    api = backend.api
    urls: Counter[str] = Counter()
    list_elapsed: list[float] = []

    def hook(response: Any, *args: Any, **kwargs: Any) -> None:
        kind = _kind(urlparse(response.request.url).path)
        urls[kind] += 1
        if kind == "list":
            list_elapsed.append(response.elapsed.total_seconds())
        elif kind == "inspect":
            m.inspect_ms.append(response.elapsed.total_seconds() * 1000)

    api.hooks["response"].append(hook)
    raw = CountingAPIClient(version="auto", timeout=60, **docker.utils.kwargs_from_env())
    filters = {"label": [f"{LABEL_INSTANCE}={settings.instance}"]}

    def raw_list() -> tuple[float, list[dict[str, Any]]]:
        t0 = time.perf_counter()
        items: list[dict[str, Any]] = raw.containers(all=True, filters=filters)
        m.containers = len(items)
        return (time.perf_counter() - t0) * 1000, items

    async def db_query() -> None:
        t0 = time.perf_counter()
        async with ctx.sessionmaker() as session:
            await TenantRepository(session).all_live()
        m.db_ms.append((time.perf_counter() - t0) * 1000)

    async def sweep() -> Sweep:
        enqueued: list[str] = []
        calls0, urls0 = Counter(api.calls), Counter(urls)
        list_elapsed.clear()
        t0 = time.perf_counter()
        result = await reconcile(ctx, enqueue=lambda tid, _delay: enqueued.append(tid))
        wall = time.perf_counter() - t0
        return Sweep(
            wall=wall,
            calls=Counter(api.calls) - calls0,
            urls=urls - urls0,
            list_seconds=sum(list_elapsed),
            enqueued=len(enqueued),
            result=result.as_dict(),
        )

    async def interleaved(sweeps: list[Sweep], raw_ms: list[float]) -> None:
        for _ in range(warm):
            raw_ms.append(raw_list()[0])
            sweeps.append(await sweep())
            await db_query()

    try:
        m.raw_first_ms = raw_list()[0]
        m.fresh.append(await sweep())
        m.fresh.append(await sweep())
        await interleaved(m.fresh, m.fresh_raw_ms)
        if steady:
            # `docker ps` says "Up About a minute" from 60 s on: no container is then
            # young enough for the sweep's missed-restart check to inspect it.
            t0 = time.monotonic()
            while any(uptime_seconds(c.get("Status") or "") is not None for c in raw_list()[1]):
                if time.monotonic() - t0 > 120:
                    raise RuntimeError("containers still under a minute old after 120 s")
                await asyncio.sleep(2)
            m.steady_wait_seconds = time.monotonic() - t0
            log(f"  every container up over a minute after {m.steady_wait_seconds:.0f}s more")
            await interleaved(m.steady, m.steady_raw_ms)
    finally:
        raw.close()
        api.close()
        ctx.redis.close()
        await ctx.engine.dispose()


def _create(bs: BenchStack, n: int, log: Log) -> float:
    client = bs.client
    run = uuid.uuid4().hex[:6]
    slugs = [f"rc{run}-{i}" for i in range(n)]
    t0 = time.monotonic()
    for slug in slugs:
        r = client.post("/tenants", json={"slug": slug})
        if r.status_code != 202:
            raise RuntimeError(f"POST /tenants {slug}: {r.status_code} {r.text[:300]}")
    last = -1
    while True:
        r = client.get("/tenants", params={"limit": 500})
        r.raise_for_status()
        items: list[dict[str, Any]] = r.json()["items"]
        failed = [i["slug"] for i in items if i["state"] == "failed"]
        if failed:
            raise RuntimeError(f"tenants failed: {failed}")
        running = sum(1 for i in items if i["state"] == "running")
        if running == n:
            return time.monotonic() - t0
        if running // 25 != last // 25:
            log(f"  {running}/{n} running after {time.monotonic() - t0:.0f}s")
            last = running
        if time.monotonic() - t0 > CREATE_TIMEOUT:
            raise RuntimeError(f"only {running}/{n} running after {CREATE_TIMEOUT:g}s")
        time.sleep(0.5)


def run(cfg: RunConfig, log: Log = print) -> list[Row]:
    n = FULL_TENANTS if cfg.full else QUICK_TENANTS
    warm = FULL_WARM if cfg.full else QUICK_WARM
    m = Measurement(tenants=n)
    with berth_stack("brec", concurrency=WORKER_CONCURRENCY) as bs:
        instance = bs.instance
        try:
            m.create_seconds = _create(bs, n, log)
            log(f"  {n} tenants running after {m.create_seconds:.0f}s; sweeping")
            asyncio.run(_sweeps(bs.stack.settings, warm, cfg.full, m, log))
            for i, s in enumerate(m.fresh[:2]):
                log(
                    f"  sweep {i + 1}: {s.wall * 1000:.1f} ms (list call "
                    f"{s.list_seconds * 1000:.1f} ms), {s.describe()}"
                )
        finally:
            # No beat or watcher runs and no task is queued: nothing re-creates them.
            m.cleanup_seconds = remove_all(instance)
    log(f"  containers and volumes removed in {m.cleanup_seconds:.0f}s")
    check_clean(instance)
    return rows(m)


def _calls_ok(s: Sweep) -> bool:
    return s.urls["list"] == 1 and s.mutating == 0


def _over(sweeps: Sequence[Sweep]) -> str:
    return (
        f"{sum(s.mutating for s in sweeps)} mutating calls, "
        f"{sum(s.urls['inspect'] for s in sweeps)} inspects, "
        f"{sum(s.enqueued for s in sweeps)} enqueued, "
        f"{sum(s.result.get('missed_restarts', 0) for s in sweeps)} missed restarts recorded"
    )


def rows(m: Measurement) -> list[Row]:
    first, second, warm = m.fresh[0], m.fresh[1], m.fresh[2:]
    warm_ms = [s.wall * 1000 for s in warm]
    list_ms = [s.list_seconds * 1000 for s in warm]
    rest_ms = [(s.wall - s.list_seconds) * 1000 for s in warm]
    size = f"{m.tenants} live tenants ({m.containers} containers)"
    out: list[Row] = [
        Row(
            NAME,
            f"first sweep wall time, {m.tenants} tenants",
            first.wall * 1000,
            m.raw_first_ms,
            "ms",
            samples=1,
            note=(
                f"{size}, created through the API in {m.create_seconds:.0f}s (most under a "
                "minute old); one in-process reconcile() on a fresh context (new DB pool); "
                "baseline: the raw client's first `api.containers(all=True, filters=label)`"
            ),
        ),
        Row(
            NAME,
            f"p50 sweep wall time, {m.tenants} fresh tenants",
            percentile(warm_ms, 50),
            percentile(m.fresh_raw_ms, 50),
            "ms",
            samples=len(warm),
            note=(
                f"{len(warm)} further sweeps right after creation, interleaved with the raw "
                f"list call; p95 {percentile(warm_ms, 95):.0f} ms vs "
                f"{percentile(m.fresh_raw_ms, 95):.0f} ms; over them: {_over(warm)}"
            ),
        ),
        CheckRow(
            NAME,
            "engine calls, second sweep (unchanged world)",
            float(second.total),
            1.0,
            "calls",
            samples=1,
            passed=_calls_ok(second),
            check="1 list, 0 mutating",
            note=(
                f"{size}; second sweep: {second.describe()}; first sweep: "
                f"{first.describe()}; baseline: the one `docker ps` call"
            ),
        ),
    ]
    if m.steady:
        steady_ms = [s.wall * 1000 for s in m.steady]
        worst = max(m.steady, key=lambda s: s.total)
        out += [
            Row(
                NAME,
                f"p50 sweep wall time, {m.tenants} tenants up > 1 min",
                percentile(steady_ms, 50),
                percentile(m.steady_raw_ms, 50),
                "ms",
                samples=len(m.steady),
                note=(
                    f"{len(m.steady)} sweeps once every container was up over a minute "
                    f"({m.steady_wait_seconds:.0f}s after the fresh sweeps), interleaved with "
                    f"the raw list call; p95 {percentile(steady_ms, 95):.0f} ms vs "
                    f"{percentile(m.steady_raw_ms, 95):.0f} ms; over them: {_over(m.steady)}"
                ),
            ),
            CheckRow(
                NAME,
                "engine calls per sweep, tenants up > 1 min",
                float(worst.total),
                1.0,
                "calls",
                samples=len(m.steady),
                passed=all(_calls_ok(s) and s.total == 1 for s in m.steady),
                check="1 list, nothing else",
                note=f"the sweep with the most calls: {worst.describe()}",
            ),
        ]
    out += [
        Row(
            NAME,
            "engine calls, first sweep",
            float(first.total),
            1.0,
            "calls",
            samples=1,
            detail=True,
            note=f"{first.describe()}; sweep result {first.result}",
        ),
        Row(
            NAME,
            "p50 fresh sweep phase: engine list call",
            percentile(list_ms, 50),
            percentile(m.fresh_raw_ms, 50),
            "ms",
            samples=len(warm),
            detail=True,
            note="the sweep's own list call (requests' elapsed, to the response headers)",
        ),
        Row(
            NAME,
            "p50 fresh sweep phase: everything but the list call",
            percentile(rest_ms, 50),
            None,
            "ms",
            samples=len(warm),
            detail=True,
            note=(
                "thread hop, tenants query, comparison and any inspects; the tenants query "
                f"alone (after each sweep): p50 {percentile(m.db_ms, 50):.1f} ms; each "
                "inspect: p50 "
                + (f"{percentile(m.inspect_ms, 50):.0f} ms" if m.inspect_ms else "n/a")
                + " in the engine, then a SELECT … FOR UPDATE, one after another"
            ),
        ),
    ]
    return out


BENCHMARK = Benchmark(
    name=NAME,
    summary="one reconcile sweep over 50 live tenants (full: 100): wall time and engine calls",
    run=run,
)
