"""Where a provision's time goes, step by step (a diagnostic, not a benchmark).

    python -m bench.profile_provision [N]

Starts a bench stack with the API but no Celery worker, signs tenants up through the
API, and runs provisioner.provisioning.converge() in this process with timers wrapped
around each step (advisory lock, DB reads/writes, every engine call, the health
client and probes). Prints the median of each step over N tenants (default 10) and
one tenant's timeline. Nothing of Berth is modified: the timers are wrappers set on
module attributes and on the context's backend instance.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import httpx

import provisioner.health as health_mod
import provisioner.provisioning as prov
from bench.stack import BenchStack, berth_stack
from controlplane.tenants.repository import TenantRepository
from provisioner.context import WorkerContext, build_context

Span = tuple[str, float, float]


class Recorder:
    def __init__(self) -> None:
        self.spans: list[Span] = []

    def add(self, name: str, start: float) -> None:
        self.spans.append((name, start, time.perf_counter()))

    def sync(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(name, start)

        return wrapper

    def coro(self, name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.add(name, start)

        return wrapper


def instrument(ctx: WorkerContext, rec: Recorder) -> None:
    p: Any = prov  # the module's imported names are patched where converge() looks them up
    lock = p.tenant_lock

    @asynccontextmanager
    async def timed_lock(engine: Any, tenant_id: uuid.UUID) -> AsyncIterator[bool]:
        start = time.perf_counter()
        cm = lock(engine, tenant_id)
        got = await cm.__aenter__()
        rec.add("lock: acquire (connect + pg_try_advisory_lock)", start)
        try:
            yield got
        finally:
            start = time.perf_counter()
            await cm.__aexit__(None, None, None)
            rec.add("lock: release", start)

    p.tenant_lock = timed_lock
    p.snapshot = rec.coro("db: snapshot (tenant, blueprint, plan, secrets)", p.snapshot)
    p.containers = rec.coro("engine: list containers (to_thread)", p.containers)
    p.set_observed = rec.coro("db: set_observed (UPDATE + commit)", p.set_observed)
    p.build_spec = rec.sync("build_spec", p.build_spec)
    p.wait_healthy = rec.coro("wait_healthy (total)", p.wait_healthy)
    h: Any = health_mod
    h.probe = rec.coro("health: probe GET", health_mod.probe)
    client_cls = httpx.AsyncClient
    h.httpx = SimpleNamespace(
        AsyncClient=rec.sync("health: httpx.AsyncClient() construction", client_cls),
        HTTPError=httpx.HTTPError,
    )
    b: Any = ctx.backend
    b.ensure = rec.sync("engine: ensure (total, in thread)", b.ensure)
    b.ensure_network = rec.sync("engine: ensure_network", b.ensure_network)
    b._ensure_volume = rec.sync("engine: create_volume", b._ensure_volume)
    b._create = rec.sync("engine: create_container", b._create)
    b.api.start = rec.sync("engine: start", b.api.start)
    b.inspect = rec.sync("engine: inspect", b.inspect)


async def _tenant_id(ctx: WorkerContext, slug: str) -> uuid.UUID:
    async with ctx.sessionmaker() as session:
        tenant = await TenantRepository(session).get_live(slug)
        assert tenant is not None
        return tenant.id


async def _profile(bs: BenchStack, n: int) -> tuple[list[list[Span]], dict[str, list[float]]]:
    ctx = build_context(bs.stack.settings)
    rec = Recorder()
    instrument(ctx, rec)
    runs: list[list[Span]] = []
    api: dict[str, list[float]] = defaultdict(list)
    run = uuid.uuid4().hex[:6]
    try:
        for i in range(-1, n):  # -1: warm-up (network creation, pools), not kept
            slug = f"pf{run}-{i + 1}"
            start = time.perf_counter()
            r = await asyncio.to_thread(bs.client.post, "/tenants", json={"slug": slug})
            api["API: POST /tenants"].append((time.perf_counter() - start) * 1000)
            r.raise_for_status()
            tenant_id = await _tenant_id(ctx, slug)
            rec.spans.clear()
            start = time.perf_counter()
            outcome = await prov.converge(ctx, tenant_id)
            rec.add("converge (total)", start)
            if outcome is not prov.Outcome.RUNNING:
                raise RuntimeError(f"{slug}: {outcome}")
            base = start
            if i >= 0:
                runs.append([(name, a - base, b - base) for name, a, b in rec.spans])
            for _ in range(5):
                start = time.perf_counter()
                await asyncio.to_thread(bs.client.get, f"/tenants/{slug}")
                api["API: GET /tenants/{slug}"].append((time.perf_counter() - start) * 1000)
    finally:
        await ctx.engine.dispose()
    return runs, api


def report(runs: list[list[Span]], api: dict[str, list[float]]) -> str:
    per_step: dict[str, list[float]] = defaultdict(list)
    calls: dict[str, list[int]] = defaultdict(list)
    for spans in runs:
        totals: dict[str, float] = defaultdict(float)
        count: dict[str, int] = defaultdict(int)
        for name, a, b in spans:
            totals[name] += (b - a) * 1000
            count[name] += 1
        for name, ms in totals.items():
            per_step[name].append(ms)
            calls[name].append(count[name])
    lines = [f"median over {len(runs)} provisions (ms per provision, calls per provision):"]
    order = sorted(per_step, key=lambda k: -statistics.median(per_step[k]))
    for name in order:
        lines.append(
            f"  {statistics.median(per_step[name]):8.1f} ms  x{statistics.median(calls[name]):<4g}"
            f" {name}"
        )
    for name, values in api.items():
        lines.append(f"  {statistics.median(values):8.1f} ms  (each) {name}")
    if runs:
        lines.append("timeline of the first measured provision (start ms → end ms):")
        for name, a, b in sorted(runs[0], key=lambda s: s[1]):
            lines.append(f"  {a * 1000:8.1f} → {b * 1000:8.1f}  {name}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else 10
    with berth_stack("prof", workers=0) as bs:
        runs, api = asyncio.run(_profile(bs, n))
    print(report(runs, api))
    return 0


if __name__ == "__main__":
    sys.exit(main())
