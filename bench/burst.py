"""`burst`: 50 concurrent signups until all are running, against raw Docker at the same
concurrency; then signups beyond the caps (worker concurrency and signup rate limit).

Berth: 50 client threads each POST /tenants at once (admin key: exempt from the rate
limit), then one watcher thread lists the tenants every POLL until all are running.
The worker runs WORKER_CONCURRENCY tasks at a time; the rest wait in the queue,
which the watcher samples (Redis queue length and tenants still `pending`).

Raw: 50 threads each make the identical container spec with direct SDK calls
(volume, create, start, inspect, health polling: bench.provision.RawDocker), all at
once. Throughput is tenants per second from the first request to the last one
healthy/running; the target is Berth ≥ 0.8× raw. Full mode runs two rounds per side
in the order Berth, raw, raw, Berth, so drift hits both sides alike (quick mode: one
round, raw then Berth, each starting from an empty host). Two more sides
show where the gap is: raw Docker through a pool as wide as Berth's worker (8), and
Berth again after restarting the worker with one task slot per signup (50). Engine
events give each side's p50 burst start → container created and created → started.

Beyond the caps: a signup-scoped key (not admin, so rate-limited: the API's default
BERTH_SIGNUP_BURST and BERTH_SIGNUP_RATE) sends OVER signups at once. Those over the
burst get 429 with Retry-After; each client waits that long and tries again, until
every signup is accepted. Counted: first answers by status, all 429s (each checked
for Retry-After), any other status, and tenants that end `failed`. The check passes
iff every signup ends running and nothing but 202 and 429-with-Retry-After came back.
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import docker.errors
import httpx
import redis

from bench.harness import Benchmark, Row, RunConfig, percentile
from bench.leftovers import remove_all
from bench.provision import RawDocker, _blueprint
from bench.pyspy import PySpy
from bench.reconcile import CheckRow
from bench.rollout import _check_clean, remove_networks
from bench.stack import BenchStack, DockerEvents, berth_stack
from controlplane.settings import Settings

NAME = "burst"
BURST = 50
QUICK_OVER = 30
FULL_OVER = 60
WORKER_CONCURRENCY = 8  # Settings.worker_concurrency's default
TARGET = 0.8
POLL = 0.2
TIMEOUT = 300.0
# The API's signup limiter: the stack sets no BERTH_SIGNUP_*, so Settings' defaults.
SETTINGS_BURST = Settings().signup_burst
SETTINGS_RATE = Settings().signup_rate

Log = Callable[[str], None]


@dataclass
class Watch:
    """What the watcher saw while a burst converged."""

    done_at: float = 0.0  # perf_counter when all were running
    max_queued: int = 0  # Redis: tasks waiting in the queue
    max_pending: int = 0  # tenants accepted but not yet picked up by a worker
    max_provisioning: int = 0
    failed: list[str] = field(default_factory=list)


def _watch(bs: BenchStack, slugs: Sequence[str], t0: float) -> Watch:
    w = Watch()
    want = set(slugs)
    r = redis.Redis.from_url(bs.stack.redis.url)
    try:
        while True:
            w.max_queued = max(w.max_queued, int(r.llen("berth")))
            resp = bs.client.get("/tenants", params={"limit": 500})
            resp.raise_for_status()
            mine = [i for i in resp.json()["items"] if i["slug"] in want]
            states = Counter(i["state"] for i in mine)
            w.max_pending = max(w.max_pending, states["pending"])
            w.max_provisioning = max(w.max_provisioning, states["provisioning"])
            w.failed = [i["slug"] for i in mine if i["state"] == "failed"]
            if w.failed:
                return w
            if states["running"] == len(want):
                w.done_at = time.perf_counter()
                return w
            if time.perf_counter() - t0 > TIMEOUT:
                raise RuntimeError(f"burst not running after {TIMEOUT:g}s: {dict(states)}")
            time.sleep(POLL)
    finally:
        r.close()


def berth_burst(bs: BenchStack, n: int, tag: str = "burst") -> tuple[float, Watch, list[str]]:
    with PySpy(f"{tag}-worker", int(bs.workers[-1].proc.pid)):  # type: ignore[attr-defined]
        return _berth_burst(bs, n)


def _berth_burst(bs: BenchStack, n: int) -> tuple[float, Watch, list[str]]:
    run = uuid.uuid4().hex[:6]
    slugs = [f"bu{run}-{i:02d}" for i in range(n)]
    go = threading.Barrier(n + 1)

    def signup(slug: str) -> int:
        go.wait()
        return bs.client.post("/tenants", json={"slug": slug}).status_code

    with ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(signup, s) for s in slugs]
        go.wait()
        t0 = time.perf_counter()
        codes = Counter(f.result() for f in futures)
    if codes != Counter({202: n}):
        raise RuntimeError(f"admin burst answered {dict(codes)}")
    watch = _watch(bs, slugs, t0)
    if watch.failed:
        raise RuntimeError(f"tenants failed in the burst: {watch.failed}")
    return watch.done_at - t0, watch, slugs


def raw_burst(raw: RawDocker, n: int, concurrency: int) -> float:
    """n raw provisions, `concurrency` at a time; seconds until the last is healthy."""
    run = uuid.uuid4().hex[:6]
    go = threading.Barrier(min(n, concurrency) + 1)

    def one(i: int) -> float:
        if i < concurrency:
            go.wait()
        s = raw.provision(f"rb{run}-{i:02d}")
        return s.wall0 + s.total

    with ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(one, i) for i in range(n)]
        go.wait()
        t0 = time.time()
        ends = [f.result() for f in futures]
    return max(ends) - t0


def berth_delete_all(client: httpx.Client, slugs: Sequence[str]) -> None:
    """DELETE every tenant, then wait (up to TIMEOUT: a loaded host is slow) for 404s."""
    for slug in slugs:
        r = client.delete(f"/tenants/{slug}")
        if r.status_code not in (202, 404):
            raise RuntimeError(f"DELETE /tenants/{slug}: {r.status_code} {r.text[:300]}")
    t0, left = time.monotonic(), list(slugs)
    while left and time.monotonic() - t0 < TIMEOUT:
        left = [s for s in left if client.get(f"/tenants/{s}").status_code != 404]
        if left:
            time.sleep(0.5)
    if left:
        raise RuntimeError(f"{len(left)} tenants not deleted within {TIMEOUT:g}s")


@dataclass
class Over:
    n: int = 0
    first: Counter[int] = field(default_factory=Counter)
    answers: Counter[int] = field(default_factory=Counter)
    missing_retry_after: int = 0
    max_attempts: int = 0
    seconds: float = 0.0
    watch: Watch = field(default_factory=Watch)

    @property
    def ok(self) -> bool:
        clean = set(self.answers) <= {202, 429} and self.missing_retry_after == 0
        return clean and self.answers[202] == self.n and not self.watch.failed


def over_caps(bs: BenchStack, n: int) -> Over:
    r = bs.client.post("/api-keys", json={"name": "bench-burst", "scopes": ["signup", "read"]})
    if r.status_code != 201:
        raise RuntimeError(f"POST /api-keys: {r.status_code} {r.text[:300]}")
    key = r.json()["key"]
    run = uuid.uuid4().hex[:6]
    slugs = [f"bo{run}-{i:02d}" for i in range(n)]
    out = Over(n=n)
    lock = threading.Lock()
    go = threading.Barrier(n + 1)
    client = httpx.Client(
        base_url=bs.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )

    def signup(slug: str) -> None:
        go.wait()
        attempts = 0
        while True:
            resp = client.post("/tenants", json={"slug": slug})
            attempts += 1
            with lock:
                if attempts == 1:
                    out.first[resp.status_code] += 1
                out.answers[resp.status_code] += 1
                out.max_attempts = max(out.max_attempts, attempts)
            if resp.status_code != 429:
                return
            retry_after = resp.headers.get("Retry-After")
            if retry_after is None or not retry_after.isdigit():
                with lock:
                    out.missing_retry_after += 1
                return
            time.sleep(int(retry_after))

    try:
        with ThreadPoolExecutor(n) as pool:
            futures = [pool.submit(signup, s) for s in slugs]
            go.wait()
            t0 = time.perf_counter()
            for f in futures:
                f.result()
        out.watch = _watch(bs, slugs, t0)
        out.seconds = (out.watch.done_at or time.perf_counter()) - t0
    finally:
        client.close()
    return out


def engine_phases(events: DockerEvents, seen: set[str], t0: float) -> tuple[float, float]:
    """p50 seconds from the burst's start (wall clock) to each container's create
    event, and from its create to its start event, over containers not in `seen`."""
    with events._lock:
        times = {k: dict(v) for k, v in events.times.items() if k not in seen}
    to_create = [v["create"] - t0 for v in times.values() if "create" in v]
    create_start = [
        v["start"] - v["create"] for v in times.values() if {"create", "start"} <= set(v)
    ]
    if not to_create or not create_start:
        return 0.0, 0.0
    return percentile(to_create, 50), percentile(create_start, 50)


@dataclass
class Measurement:
    berth: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    raw_capped: list[float] = field(default_factory=list)  # raw, WORKER_CONCURRENCY at a time
    berth_wide: float = 0.0  # Berth with worker concurrency = BURST
    wide_watch: Watch = field(default_factory=Watch)
    watches: list[Watch] = field(default_factory=list)
    # (side, p50 burst start → created, p50 created → started), from engine events
    phases: list[tuple[str, float, float]] = field(default_factory=list)
    over: Over = field(default_factory=Over)


def run(cfg: RunConfig, log: Log = print) -> list[Row]:
    m = Measurement()
    stuck: list[str] = []
    # Quick mode: raw first, so the Berth side ends the timed part and its fifty
    # tenants need no deleting before the (untimed) over-the-caps check.
    order = ("berth", "raw", "raw", "berth") if cfg.full else ("raw", "berth")
    instance, measured = "", False
    try:
        with berth_stack("bburst", concurrency=WORKER_CONCURRENCY) as bs:
            instance = bs.instance
            raw: RawDocker | None = None
            try:
                # Warm-up: creates the tenants network, warms the worker; gives the limits.
                warm = f"bw{uuid.uuid4().hex[:6]}"
                bs.client.post("/tenants", json={"slug": warm}).raise_for_status()
                bs.client.get(f"/tenants/{warm}", params={"wait_for": "running", "timeout": 60})
                limits: dict[str, Any] = bs.client.get(f"/tenants/{warm}").json()["limits"]
                raw = RawDocker(bs.stack.settings, _blueprint(bs.client), limits)
                berth_delete_all(bs.client, [warm])
                with DockerEvents(instance) as events:

                    def side_run(label: str, go: Callable[[], None]) -> None:
                        seen, w0 = set(events.times), time.time()
                        go()
                        time.sleep(1.0)  # the last events in flight
                        m.phases.append((label, *engine_phases(events, seen, w0)))

                    def berth_side(last: bool) -> None:
                        seconds, watch, slugs = berth_burst(bs, BURST)
                        m.berth.append(seconds)
                        m.watches.append(watch)
                        log(
                            f"  berth: {BURST} running after {seconds:.1f}s "
                            f"(max {watch.max_pending} pending, {watch.max_queued} in the queue)"
                        )
                        # Deleting fifty through the worker takes as long as the burst;
                        # only a side measured after this one needs the host empty.
                        if not last:
                            berth_delete_all(bs.client, slugs)

                    def raw_side(concurrency: int) -> None:
                        assert raw is not None
                        seconds = raw_burst(raw, BURST, concurrency)
                        (m.raw if concurrency == BURST else m.raw_capped).append(seconds)
                        log(f"  raw, {concurrency} at a time: {BURST} healthy after {seconds:.1f}s")
                        raw.cleanup()

                    def wide_side() -> None:
                        # What a wider worker buys: the same burst with one task slot each.
                        bs.workers[0].stop()  # type: ignore[attr-defined]
                        bs.stack.start_worker(concurrency=BURST)
                        m.berth_wide, m.wide_watch, slugs = berth_burst(bs, BURST, "burst-wide")
                        wide = m.berth_wide
                        log(f"  berth, worker concurrency {BURST}: running after {wide:.1f}s")
                        berth_delete_all(bs.client, slugs)

                    for i, side in enumerate(order):
                        if side == "berth":
                            last = i == len(order) - 1 and not cfg.full
                            side_run("Berth", functools.partial(berth_side, last))
                        else:
                            side_run(f"raw {BURST} at once", lambda: raw_side(BURST))
                    if cfg.full:  # the two diagnostic sides; quick mode keeps to the target
                        side_run(
                            f"raw {WORKER_CONCURRENCY} at a time",
                            lambda: raw_side(WORKER_CONCURRENCY),
                        )
                        side_run(f"Berth, worker concurrency {BURST}", wide_side)
                m.over = over_caps(bs, FULL_OVER if cfg.full else QUICK_OVER)
                o = m.over
                log(
                    f"  over the caps: {o.n} signups, first answers {dict(o.first)}, all answers "
                    f"{dict(o.answers)}, running after {o.seconds:.1f}s, failed {o.watch.failed}"
                )
                measured = True
            finally:
                if raw is not None:
                    raw.close()
                remove_all(instance)
                stuck = remove_networks(instance, log, tries=60)
    except docker.errors.APIError as exc:
        # stop_stack's network removal (moby/moby#42119); the rest is gone by then.
        if not measured or "active endpoints" not in str(exc):
            raise
    _check_clean(instance, stuck)
    return rows(m, SETTINGS_BURST, SETTINGS_RATE)


def rows(m: Measurement, burst: int, rate: float) -> list[Row]:
    b, r = sum(m.berth) / len(m.berth), sum(m.raw) / len(m.raw)
    o = m.over
    queued = max(w.max_pending for w in m.watches)
    out: list[Row] = [
        Row(
            NAME,
            f"throughput, {BURST} concurrent signups → all running",
            BURST / b,
            BURST / r,
            "tenants/s",
            min_ratio=TARGET,
            samples=len(m.berth),
            note=(
                f"{BURST} signups at once; raw = {BURST} threads making the identical spec "
                f"(volume, create, start, health); Berth's worker runs {WORKER_CONCURRENCY} "
                f"at a time; mean of {len(m.berth)} round(s) per side"
            ),
        ),
        Row(
            NAME,
            f"wall time, {BURST} concurrent signups → all running",
            b,
            r,
            "s",
            samples=len(m.berth),
        ),
    ]
    if m.raw_capped:
        out.append(
            Row(
                NAME,
                f"throughput vs raw {WORKER_CONCURRENCY} at a time (the worker's concurrency)",
                BURST / b,
                BURST / (sum(m.raw_capped) / len(m.raw_capped)),
                "tenants/s",
                samples=len(m.raw_capped),
                note="raw provisions through a pool as wide as Berth's worker",
            )
        )
    if m.berth_wide:
        out.append(
            Row(
                NAME,
                f"throughput with BERTH_WORKER_CONCURRENCY={BURST} vs raw {BURST} at once",
                BURST / m.berth_wide,
                BURST / r,
                "tenants/s",
                samples=1,
                note=(
                    f"the same burst after restarting the worker with {BURST} task slots "
                    f"(at most 14 tenant operations at once: its database pool); max "
                    f"{m.wide_watch.max_pending} pending"
                ),
            )
        )
    out += [
        CheckRow(
            NAME,
            f"{BURST} at once: queued beyond {WORKER_CONCURRENCY} workers (max seen)",
            float(queued),
            None,
            "tenants",
            samples=len(m.watches),
            passed=all(not w.failed for w in m.watches),
            check="queued, 0 failed",
            note=(
                f"tenants still pending (accepted, waiting for a worker) at the watcher's "
                f"{POLL:g} s samples; max Redis queue length "
                f"{max(w.max_queued for w in m.watches)}; 0 failed"
            ),
        ),
        CheckRow(
            NAME,
            f"{o.n} at once over the rate limit: answered 202 at once",
            float(o.first[202]),
            None,
            "signups",
            passed=o.ok and o.first[202] <= burst,
            check="≤ burst, rest 429",
            note=(
                f"signup-scoped key, burst {burst}, {rate:g}/min; clients honouring "
                f"Retry-After got all {o.answers[202]}/{o.n} accepted after {o.answers[429]} "
                f"429s in total (max {o.max_attempts} attempts each), all running "
                f"{o.seconds:.1f} s after the first request; other statuses: "
                f"{sum(v for k, v in o.answers.items() if k not in (202, 429))}; failed "
                f"tenants: {len(o.watch.failed)}"
            ),
        ),
        CheckRow(
            NAME,
            f"{o.n} at once over the rate limit: answered 429 + Retry-After at once",
            float(o.first[429]),
            None,
            "signups",
            passed=o.ok,
            check="never a failure",
            note=f"429s without a Retry-After header: {o.missing_retry_after}",
        ),
    ]
    for label, to_create, create_start in m.phases:
        out.append(
            Row(
                NAME,
                f"p50 engine phases, {label}: burst start → created / created → started",
                to_create * 1000,
                create_start * 1000,
                "ms",
                detail=True,
                note="engine events; the 'raw baseline' column is created → started here",
            )
        )
    return out


BENCHMARK = Benchmark(NAME, f"{BURST} concurrent signups vs raw Docker; beyond the caps", run)
