"""`idle`: the edge gate's overhead, waking from freeze and stop, and the idle sweep.

A real Berth (the API under uvicorn as `berth run` starts it, one Celery worker) on
a fresh stack.

1. Gate overhead. GET /edge/gate with the X-Forwarded-Host of a running tenant (what
   Traefik's ForwardAuth sends), beside a bare ASGI app (bench/bare_asgi.py: answers
   200, does nothing) served by the same uvicorn command. Same client, same run:
   latency p50/p99 from sequential keep-alive requests, throughput from CONCURRENCY
   concurrent connections for a fixed time.
2. Wake from freeze: a tenant on a freeze plan is paused (POST /pause); the clock
   runs from the gate request to the first 200 from the tenant after the gate
   answered (the request Traefik would then pass on). Raw: `docker unpause` of a
   paused container of the same spec, then one request.
3. Wake from stop: the same with a stop plan. Raw: `docker start`, inspect for the
   address, poll /health at Berth's poll interval until 200.
   The Berth and raw sides alternate, several rounds each.
4. Idle sweep at N live tenants (quick 20, full 100), every one idle past its plan's
   idle_after, so every one is sampled: the sweep function the Celery task runs,
   called in-process with a counting Docker client and the worker's sampler (host
   cgroup and /proc counters where visible). Baseline: one-shot engine stats calls for
   the same tenants, with the same concurrency, straight to the engine.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker.utils
import httpx

from bench import loadgen
from bench.harness import ROOT, Benchmark, Row, RunConfig, percentile
from bench.leftovers import check_clean
from bench.provision import RawDocker, _blueprint
from bench.stack import BenchStack, _stop_process, _wait_api, berth_stack, free_port
from provisioner.context import build_context
from provisioner.idle import idle_sweep
from provisioner.runtime.docker import CountingAPIClient, DockerBackend
from provisioner.runtime.factory import host_counters

NAME = "idle"
LATENCY_REQUESTS = 2000
THROUGHPUT_SECONDS = 5.0
CONCURRENCY = 16
QUICK_WAKES, FULL_WAKES = 5, 12
QUICK_FLEET, FULL_FLEET = 20, 100
DOMAIN = "test.localhost"


def _plan(client: httpx.Client, **policy: Any) -> str:
    name = "b" + uuid.uuid4().hex[:8]
    body = {
        "name": name,
        "cpu": 0.25,
        "memory_mb": 64,
        "pids": 64,
        "max_cpu": 1.0,
        "max_memory_mb": 256,
        "max_pids": 256,
        **policy,
    }
    r = client.post("/plans", json=body)
    r.raise_for_status()
    return name


def _tenant(bs: BenchStack, plan: str) -> str:
    slug = "w" + uuid.uuid4().hex[:10]
    r = bs.client.post("/tenants", json={"slug": slug, "plan": plan})
    r.raise_for_status()
    berth_provision_wait(bs.client, slug, "running")
    return slug


def berth_provision_wait(client: httpx.Client, slug: str, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        r = client.get(f"/tenants/{slug}", params={"wait_for": state, "timeout": 30})
        body: dict[str, Any] = r.json()
        if body.get("state") == state:
            return body
        if body.get("state") == "failed":
            raise RuntimeError(f"{slug} failed: {body.get('state_reason')}")
    raise RuntimeError(f"{slug} did not reach {state}")


# --- 1. gate overhead -----------------------------------------------------------------


def _bare_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [
        sys.executable, "-m", "uvicorn", "bench.bare_asgi:app", "--host", "127.0.0.1",
        "--port", str(port), "--no-access-log", "--timeout-graceful-shutdown", "5",
    ]  # fmt: skip
    log = "/tmp/berth-bench-bare.log"
    with open(log, "ab") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    _wait_api(proc, url, log)
    return proc, url


def gate_rows(bs: BenchStack, slug: str, log: Callable[[str], None]) -> list[Row]:
    headers = {"X-Forwarded-Host": f"{slug}.{DOMAIN}", "X-Forwarded-Proto": "https"}
    bare, bare_url = _bare_server()
    try:
        gate_url = f"{bs.base_url}/edge/gate"
        lat_gate = asyncio.run(loadgen.latencies(gate_url, headers, LATENCY_REQUESTS))
        lat_bare = asyncio.run(loadgen.latencies(f"{bare_url}/", headers, LATENCY_REQUESTS))
        rps_gate = asyncio.run(
            loadgen.throughput(gate_url, headers, CONCURRENCY, THROUGHPUT_SECONDS)
        )
        rps_bare = asyncio.run(
            loadgen.throughput(f"{bare_url}/", headers, CONCURRENCY, THROUGHPUT_SECONDS)
        )
    finally:
        _stop_process(bare)
    ms = 1000.0
    log(
        f"  gate p50 {percentile(lat_gate, 50) * ms:.2f} ms, {rps_gate:.0f} req/s; "
        f"bare p50 {percentile(lat_bare, 50) * ms:.2f} ms, {rps_bare:.0f} req/s"
    )
    note = "GET /edge/gate for a running tenant vs a bare ASGI app, same uvicorn command"
    return [
        Row(NAME, "gate latency p50", percentile(lat_gate, 50) * ms,
            percentile(lat_bare, 50) * ms, "ms", note=note + "; target p50 ≤ 2 ms absolute",
            samples=len(lat_gate)),
        Row(NAME, "gate latency p99", percentile(lat_gate, 99) * ms,
            percentile(lat_bare, 99) * ms, "ms", samples=len(lat_gate)),
        # Throughput: higher is better, so the ratio is bare/gate (target ≤ 1/0.6).
        Row(NAME, "gate throughput (bare req/s ÷ gate req/s)", 1.0 / rps_gate * 1000,
            1.0 / rps_bare * 1000, "ms/req", max_ratio=1 / 0.6,
            note=f"gate {rps_gate:.0f} req/s, bare {rps_bare:.0f} req/s, "
            f"{CONCURRENCY} connections; target gate ≥ 0.6× bare"),
    ]  # fmt: skip


# --- 2 and 3. wakes -------------------------------------------------------------------


def _health_url(api: CountingAPIClient, container: str, network: str, port: int) -> str:
    data = api.inspect_container(container)
    return f"http://{data['NetworkSettings']['Networks'][network]['IPAddress']}:{port}/health"


def _until_ok(http: httpx.Client, url: str, poll: float, t0: float) -> float:
    while True:
        try:
            if http.get(url).status_code == 200:
                return time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        if time.perf_counter() - t0 > 60:
            raise RuntimeError(f"{url} never answered")
        time.sleep(poll)


def berth_wake(bs: BenchStack, slug: str, http: httpx.Client, api: CountingAPIClient) -> float:
    r = bs.client.post(f"/tenants/{slug}/pause")
    r.raise_for_status()
    berth_provision_wait(bs.client, slug, "paused")
    headers = {"X-Forwarded-Host": f"{slug}.{DOMAIN}"}
    t0 = time.perf_counter()
    r = http.get(f"{bs.base_url}/edge/gate", headers=headers, timeout=60)
    if r.status_code != 200:
        raise RuntimeError(f"gate for {slug}: {r.status_code} {r.text[:200]}")
    # Traefik now passes the request on: one request to the tenant.
    t_gate = time.perf_counter()
    url = _health_url(api, f"berth-{slug}", bs.stack.settings.tenant_network, 8080)
    t_inspect = time.perf_counter() - t_gate  # the bench's own lookup, not Berth's cost
    return _until_ok(http, url, 0.001, t0) - t_inspect


def raw_wake(raw: RawDocker, mode: str, http: httpx.Client) -> float:
    spec = raw.spec("r" + uuid.uuid4().hex[:8], str(uuid.uuid4()))
    raw.api.create_volume(spec.volume, driver="local", labels=dict(spec.volume_labels))
    cid = raw.backend._create(spec)
    raw.made.append((cid, spec.volume))
    raw.api.start(cid)
    url = _health_url(raw.api, cid, spec.network, raw.blueprint.port)
    _until_ok(http, url, 0.01, time.perf_counter())
    if mode == "freeze":
        raw.api.pause(cid)
        t0 = time.perf_counter()
        raw.api.unpause(cid)
        return _until_ok(http, url, 0.001, t0)
    raw.api.stop(cid, timeout=10)
    t0 = time.perf_counter()
    raw.api.start(cid)
    url = _health_url(raw.api, cid, spec.network, raw.blueprint.port)
    return _until_ok(http, url, raw.settings.health_poll_interval, t0)


def wake_rows(bs: BenchStack, rounds: int, log: Callable[[str], None]) -> list[Row]:
    rows: list[Row] = []
    raw = RawDocker(bs.stack.settings, _blueprint(bs.client), {"cpu": 0.25, "memory_mb": 64,
                                                               "pids": 64})  # fmt: skip
    http = httpx.Client(timeout=2, trust_env=False)
    try:
        targets = {"freeze": 2.0, "stop": 1.2}
        for mode, target in targets.items():
            slug = _tenant(bs, _plan(bs.client, pause_mode=mode))
            berth, base = [], []
            for _ in range(rounds):
                berth.append(berth_wake(bs, slug, http, raw.api))
                base.append(raw_wake(raw, mode, http))
            raw.cleanup()
            b50, r50 = percentile(berth, 50) * 1000, percentile(base, 50) * 1000
            log(f"  wake from {mode}: Berth p50 {b50:.1f} ms, raw p50 {r50:.1f} ms")
            what = "unpause + one request" if mode == "freeze" else "start + healthy"
            rows.append(Row(NAME, f"wake from {mode} p50", b50, r50, "ms", max_ratio=target,
                            note=f"gate request → tenant answers; raw: docker {what}",
                            samples=rounds))  # fmt: skip
    finally:
        http.close()
        raw.cleanup()
        raw.close()
    return rows


# --- 4. idle sweep ----------------------------------------------------------------------


def sweep_rows(bs: BenchStack, n: int, log: Callable[[str], None]) -> list[Row]:
    plan = _plan(bs.client, idle_after=1, pause_mode="freeze")
    slugs = [f"i{i:03d}{uuid.uuid4().hex[:6]}" for i in range(n)]
    for slug in slugs:
        bs.client.post("/tenants", json={"slug": slug, "plan": plan}).raise_for_status()
    for slug in slugs:
        berth_provision_wait(bs.client, slug, "running")
    time.sleep(1.5)  # every tenant now idle past idle_after = 1 s

    settings = bs.stack.settings
    ctx = build_context(settings)
    api = CountingAPIClient(version="auto", timeout=60, **docker.utils.kwargs_from_env())
    # As the worker's: the host's counters when visible (BERTH_STATS_SOURCE=auto).
    ctx.backend = DockerBackend(
        api, network=settings.tenant_network, host_counters=host_counters(settings)
    )
    enqueued: list[str] = []

    async def sweep() -> tuple[float, int, Any]:
        before = api.calls["GET"]
        t0 = time.perf_counter()
        result = await idle_sweep(ctx, enqueue=lambda tid, _d: enqueued.append(tid))
        return time.perf_counter() - t0, api.calls["GET"] - before, result

    async def raw_stats(ids: list[str]) -> float:
        gate = asyncio.Semaphore(settings.idle_concurrency)

        async def one(cid: str) -> None:
            async with gate:
                await asyncio.to_thread(api.stats, cid, stream=False, one_shot=True)

        t0 = time.perf_counter()
        await asyncio.gather(*(one(c) for c in ids))
        return time.perf_counter() - t0

    async def measure() -> tuple[tuple[float, int, Any], tuple[float, int, Any], float]:
        # The worker's loop has a 64-thread executor (provisioner/context.py); so does
        # this one, or to_thread's default (cores + 4) would cap both sides at 6 calls.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=64))
        try:
            first = await sweep()  # baseline samples for everyone
            second = await sweep()  # decisions: every tenant is quiet, so all pause
            ids = [c["Id"] for c in api.containers(filters={"label": f"berth.instance="
                                                              f"{settings.instance}"})]  # fmt: skip
            raw_s = await raw_stats(ids[:n])
            return first, second, raw_s
        finally:
            await ctx.engine.dispose()

    (s1, calls1, r1), (s2, calls2, r2), raw_s = asyncio.run(measure())
    api.close()
    log(
        f"  idle sweep at {n}: first {s1 * 1000:.0f} ms ({calls1} engine GETs, "
        f"{r1.sampled} sampled), second {s2 * 1000:.0f} ms ({calls2} GETs, "
        f"{len(r2.paused)} paused); raw stats {raw_s * 1000:.0f} ms"
    )
    note = (
        f"{n} live tenants all idle: one sample each ({calls1} engine calls: host "
        f"counters where visible, else one-shot stats at concurrency "
        f"{settings.idle_concurrency}); baseline = one-shot engine stats calls for the same"
    )
    return [
        Row(NAME, f"idle sweep, {n} tenants (baseline sweep)", s1 * 1000, raw_s * 1000, "ms",
            note=note, samples=1),
        Row(NAME, f"idle sweep, {n} tenants (deciding sweep, {len(r2.paused)} paused)",
            s2 * 1000, raw_s * 1000, "ms", samples=1),
    ]  # fmt: skip


def run(cfg: RunConfig) -> list[Row]:
    def log(msg: str) -> None:
        print(msg, flush=True)

    rows: list[Row] = []
    with berth_stack("idle") as bs:
        os.environ.setdefault("NO_PROXY", "*")
        slug = _tenant(bs, "standard")
        rows += gate_rows(bs, slug, log)
        rows += wake_rows(bs, FULL_WAKES if cfg.full else QUICK_WAKES, log)
        rows += sweep_rows(bs, FULL_FLEET if cfg.full else QUICK_FLEET, log)
        instance = bs.instance
    check_clean(instance)
    return rows


BENCHMARK = Benchmark(NAME, "edge gate overhead, wake from freeze/stop, idle sweep cost", run)
