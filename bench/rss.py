"""`rss`: memory of Berth's processes (API, worker, beat, watcher) at idle and at N
live tenants.

A real Berth: the API under uvicorn, one Celery worker (prefork, the default
concurrency of 8), celery beat and the events watcher, all as `berth run` starts
them. Memory is read from /proc for each process group (bench.procmem): RSS, and PSS,
which shares the prefork children's common pages out instead of counting them once
per child. Measured after a short settle at idle (no tenant), then again after N
tenants were signed up and all are running.

Beat's schedule is set to BERTH_RECONCILE_INTERVAL / BERTH_IDLE_SWEEP_INTERVAL of
an hour: its memory does not depend on the fleet, and its sweeps must not race the
benchmarks' own (bench.density runs them by hand and counts their engine calls).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from bench import procmem
from bench.harness import Benchmark, Row, RunConfig
from bench.leftovers import check_clean, remove_all
from bench.stack import BenchStack, berth_stack

NAME = "rss"
QUICK_TENANTS = 20
FULL_TENANTS = 300
LIMITS = {"memory_mb": 32, "cpu": 0.1}
SETTLE = 5.0
CREATE_TIMEOUT = 1800.0
SLOW_BEAT = 3600.0

Log = Callable[[str], None]
KINDS = ("api", "worker", "beat", "watcher")


def start_side_processes(bs: BenchStack) -> dict[str, int]:
    """Start beat (with an hour's schedule) and the watcher; pgid of each kind."""
    stack = bs.stack
    stack.settings = stack.settings.model_copy(
        update={"reconcile_interval": SLOW_BEAT, "idle_sweep_interval": SLOW_BEAT}
    )
    beat = stack.start_beat()
    watcher = stack.start_watcher()
    pgids = {"api": bs.api_pid}
    for kind, proc in (("worker", bs.workers[0]), ("beat", beat), ("watcher", watcher)):
        popen = getattr(proc, "proc", None)
        if popen is None:
            raise RuntimeError(f"{kind} has no process")
        pgids[kind] = int(popen.pid)
    return pgids


def stop_processes(bs: BenchStack) -> None:
    """Stop the worker, beat and watcher, so nothing re-creates what clean-up removes."""
    for proc in bs.stack.workers:
        proc.stop()


def measure(pgids: dict[str, int]) -> dict[str, procmem.TreeUsage]:
    return {kind: procmem.usage(pgid) for kind, pgid in pgids.items()}


def describe(usage: dict[str, procmem.TreeUsage]) -> str:
    return ", ".join(
        f"{k} {u.pss_mib:.0f} MiB PSS / {u.rss_mib:.0f} RSS ({u.processes} proc, {u.fds} fds)"
        for k, u in usage.items()
    )


def sign_up(
    client: httpx.Client, slugs: Sequence[str], body: dict[str, Any], parallel: int = 8
) -> None:
    """POST /tenants for every slug, `parallel` at a time (admin key: no rate limit)."""

    def one(slug: str) -> None:
        r = client.post("/tenants", json={"slug": slug, **body})
        if r.status_code != 202:
            raise RuntimeError(f"POST /tenants {slug}: {r.status_code} {r.text[:300]}")

    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, slugs))


def wait_running(
    client: httpx.Client, slugs: Sequence[str], t0: float, log: Log, every: int = 50
) -> list[tuple[int, float]]:
    """Poll the list until every slug runs; (running count, seconds) as it grows."""
    want = set(slugs)
    progress: list[tuple[int, float]] = []
    last = 0
    while True:
        states: dict[str, str] = {}
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            r = client.get("/tenants", params=params)
            r.raise_for_status()
            page = r.json()
            states.update({i["slug"]: i["state"] for i in page["items"] if i["slug"] in want})
            cursor = page.get("next_cursor")
            if not cursor:
                break
        failed = [s for s, st in states.items() if st == "failed"]
        if failed:
            raise RuntimeError(f"tenants failed: {failed[:10]}")
        running = sum(1 for st in states.values() if st == "running")
        now = time.monotonic() - t0
        if running // every != last // every or running == len(want):
            progress.append((running, now))
            log(f"  {running}/{len(want)} running after {now:.0f}s")
            last = running
        if running == len(want):
            return progress
        if now > CREATE_TIMEOUT:
            raise RuntimeError(f"only {running}/{len(want)} running after {CREATE_TIMEOUT:g}s")
        time.sleep(1.0)


def memory_rows(
    name: str, before: dict[str, procmem.TreeUsage], after: dict[str, procmem.TreeUsage], n: int
) -> list[Row]:
    """PSS per process kind at n tenants beside idle, plus the total."""
    out = [
        Row(
            name,
            f"{kind} PSS at {n} tenants vs idle",
            after[kind].pss_mib,
            before[kind].pss_mib,
            "MiB",
            samples=1,
            note=(
                f"{after[kind].processes} process(es); RSS {before[kind].rss_mib:.0f} → "
                f"{after[kind].rss_mib:.0f} MiB; open fds {before[kind].fds} → "
                f"{after[kind].fds}"
            ),
        )
        for kind in KINDS
    ]
    out.append(
        Row(
            name,
            f"all four PSS at {n} tenants vs idle",
            sum(u.pss_mib for u in after.values()),
            sum(u.pss_mib for u in before.values()),
            "MiB",
            samples=1,
            note=f"RSS summed: {sum(u.rss_mib for u in after.values()):.0f} MiB at {n}",
        )
    )
    return out


def run(cfg: RunConfig, log: Log = print) -> list[Row]:
    n = FULL_TENANTS if cfg.full else QUICK_TENANTS
    with berth_stack("brss") as bs:
        instance = bs.instance
        try:
            pgids = start_side_processes(bs)
            time.sleep(SETTLE)
            before = measure(pgids)
            log(f"  idle: {describe(before)}")
            slugs = [f"rs{uuid.uuid4().hex[:6]}-{i:03d}" for i in range(n)]
            t0 = time.monotonic()
            sign_up(bs.client, slugs, {"limits": LIMITS})
            wait_running(bs.client, slugs, t0, log)
            time.sleep(SETTLE)
            after = measure(pgids)
            log(f"  {n} tenants: {describe(after)}")
        finally:
            stop_processes(bs)
            remove_all(instance)
    check_clean(instance)
    return memory_rows(NAME, before, after, n)


BENCHMARK = Benchmark(NAME, "RSS/PSS of API, worker, beat, watcher at idle and at N tenants", run)
