"""`reconcile`: one reconcile sweep over many live tenants, its time and engine calls.

N tenants are signed up through the API (real uvicorn + Celery worker) and waited
for until every one is running. Then, in this process, sweeps run exactly as the
beat task runs them: `ctx = build_context(settings)` and
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
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import docker.utils

from bench.harness import Benchmark, Row, RunConfig, percentile
from bench.leftovers import check_clean
from bench.stack import BenchStack, berth_stack
from controlplane.settings import Settings
from provisioner.context import build_context
from provisioner.reconcile import reconcile
from provisioner.runtime.docker import MUTATING, CountingAPIClient, DockerBackend
from provisioner.spec import LABEL_INSTANCE

NAME = "reconcile"
QUICK_TENANTS = 100
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
    sweeps: list[Sweep] = field(default_factory=list)
    raw_ms: list[float] = field(default_factory=list)  # first one is the client's first


def _kind(path: str) -> str:
    if path.endswith("/containers/json"):
        return "list"
    if path.endswith("/json") and "/containers/" in path:
        return "inspect"
    return "other"


async def _sweeps(settings: Settings, warm: int, m: Measurement) -> None:
    ctx = build_context(settings)
    backend = ctx.backend
    if not isinstance(backend, DockerBackend):
        raise RuntimeError(f"expected a DockerBackend, got {type(backend).__name__}")
    api = backend.api
    urls: Counter[str] = Counter()

    def hook(response: Any, *args: Any, **kwargs: Any) -> None:
        urls[_kind(urlparse(response.request.url).path)] += 1

    api.hooks["response"].append(hook)
    raw = CountingAPIClient(version="auto", timeout=60, **docker.utils.kwargs_from_env())
    filters = {"label": [f"{LABEL_INSTANCE}={settings.instance}"]}

    def raw_list() -> None:
        t0 = time.perf_counter()
        items = raw.containers(all=True, filters=filters)
        m.raw_ms.append((time.perf_counter() - t0) * 1000)
        m.containers = len(items)

    async def sweep() -> Sweep:
        enqueued: list[str] = []
        calls0, urls0 = Counter(api.calls), Counter(urls)
        t0 = time.perf_counter()
        result = await reconcile(ctx, enqueue=lambda tid, _delay: enqueued.append(tid))
        wall = time.perf_counter() - t0
        return Sweep(
            wall=wall,
            calls=Counter(api.calls) - calls0,
            urls=urls - urls0,
            enqueued=len(enqueued),
            result=result.as_dict(),
        )

    try:
        raw_list()  # the raw client's first list call, beside the first sweep
        m.sweeps.append(await sweep())
        m.sweeps.append(await sweep())
        for _ in range(warm):
            raw_list()
            m.sweeps.append(await sweep())
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
        m.create_seconds = _create(bs, n, log)
        log(f"  {n} tenants running after {m.create_seconds:.0f}s; sweeping")
        asyncio.run(_sweeps(bs.stack.settings, warm, m))
        for i, s in enumerate(m.sweeps[:2]):
            log(f"  sweep {i + 1}: {s.wall * 1000:.1f} ms, {s.describe()}")
        t0 = time.monotonic()
    log(f"  teardown (label cleanup) {time.monotonic() - t0:.0f}s")
    check_clean(instance)
    return rows(m)


def rows(m: Measurement) -> list[Row]:
    first, second, warm = m.sweeps[0], m.sweeps[1], m.sweeps[2:]
    warm_ms = [s.wall * 1000 for s in warm]
    raw_warm = m.raw_ms[1:]
    size = f"{m.tenants} live tenants ({m.containers} containers)"
    passed = second.urls["list"] == 1 and second.mutating == 0
    enq_warm = sum(s.enqueued for s in warm)
    mut_warm = sum(s.mutating for s in warm)
    return [
        Row(
            NAME,
            f"first sweep wall time, {m.tenants} tenants",
            first.wall * 1000,
            m.raw_ms[0],
            "ms",
            samples=1,
            note=(
                f"{size}, created through the API in {m.create_seconds:.0f}s; one in-process "
                "reconcile() on a fresh context (new DB pool); baseline: the raw client's "
                "first `api.containers(all=True, filters=label)`"
            ),
        ),
        Row(
            NAME,
            f"p50 sweep wall time, {m.tenants} tenants",
            percentile(warm_ms, 50),
            percentile(raw_warm, 50),
            "ms",
            samples=len(warm),
            note=(
                f"{len(warm)} further sweeps interleaved with the raw list call; "
                f"p95 {percentile(warm_ms, 95):.1f} ms vs {percentile(raw_warm, 95):.1f} ms; "
                f"{mut_warm} mutating calls and {enq_warm} enqueued over them"
            ),
        ),
        CheckRow(
            NAME,
            "engine calls, second sweep (unchanged world)",
            float(second.total),
            1.0,
            "calls",
            samples=1,
            passed=passed,
            check="1 list, 0 mutating",
            note=(
                f"{size}; second sweep: {second.describe()}; first sweep: "
                f"{first.describe()}; baseline: the one `docker ps` call"
            ),
        ),
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
    ]


BENCHMARK = Benchmark(
    name=NAME,
    summary="one reconcile sweep over 100 live tenants: wall time and engine calls",
    run=run,
)
