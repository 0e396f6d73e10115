"""`api_reads`: `GET /tenants?limit=100` latency with 10,000 tenant rows against 10.

A real Berth API (uvicorn, as `berth run` starts it) on a fresh stack, no worker: no
container is ever made. Ten tenants are signed up through the API (real rows, with
their converge tasks left queued); the large table is those ten plus rows copied
from them straight into PostgreSQL (`INSERT ... SELECT` over generate_series, with
distinct slugs, ids and creation times), analysed afterwards as autovacuum would.

The two sizes alternate in rounds (small, large, small, large, ...: the copied rows
are deleted again between rounds), so machine noise hits both equally. Each round
sends warm-up requests, then timed sequential requests from one keep-alive client.

Rows: p50 and p99 at 10,000 rows against 10 (target ≤ 1.5×; the small table's page
holds 10 items, the large one's 100), and the same against 100 rows, where both
pages hold 100 items: that one isolates what the table's size costs from what the
page's size costs.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import httpx
from sqlalchemy import text

from bench.harness import Benchmark, Row, RunConfig, percentile
from bench.leftovers import check_clean
from bench.stack import berth_stack
from controlplane.db import make_engine

NAME = "api_reads"
TARGET = 1.5
SMALL = 10
MEDIUM = 100
LARGE = 10_000
PAGE = 100
QUICK_REQUESTS = 200
FULL_REQUESTS = 600
QUICK_ROUNDS = 2
FULL_ROUNDS = 3
WARMUP = 20

Log = Callable[[str], None]


async def _exec(url: str, *statements: str) -> None:
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            # The copies are not tenants anyone runs: no usage-ledger trigger (the
            # ledger is append-only, so its rows would make the copies undeletable).
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            for sql in statements:
                await conn.execute(text(sql))
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("ANALYZE tenants"))
    finally:
        await engine.dispose()


def _copy_sql(tag: str, count: int) -> str:
    """`count` more tenants copied from the real ones, each with its own id and slug."""
    cols = (
        "plan, blueprint_version, env, cpu, memory_mb, pids, desired_state, keep_data, "
        "generation, state, state_reason, observed_generation, container_id, "
        "container_name, state_changed_at, updated_at"
    )
    return (
        f"INSERT INTO tenants (id, slug, created_at, {cols}) "
        f"SELECT gen_random_uuid(), '{tag}-' || g, "
        f"now() - interval '1 day' + g * interval '1 second', {cols} "
        f"FROM generate_series(1, {count}) AS g, "
        f"(SELECT * FROM tenants WHERE slug NOT LIKE '{tag}-%' LIMIT 1) AS t"
    )


def _set_size(url: str, tag: str, size: int) -> None:
    statements = [f"DELETE FROM tenants WHERE slug LIKE '{tag}-%'"]
    if size > SMALL:
        statements.append(_copy_sql(tag, size - SMALL))
    asyncio.run(_exec(url, *statements))


def _measure(client: httpx.Client, n: int) -> list[float]:
    for _ in range(WARMUP):
        client.get("/tenants", params={"limit": PAGE}).raise_for_status()
    out: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get("/tenants", params={"limit": PAGE})
        out.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
    return out


def run(cfg: RunConfig, log: Log = print) -> list[Row]:
    n = FULL_REQUESTS if cfg.full else QUICK_REQUESTS
    rounds = FULL_ROUNDS if cfg.full else QUICK_ROUNDS
    tag = "cp" + uuid.uuid4().hex[:6]
    times: dict[int, list[float]] = {SMALL: [], MEDIUM: [], LARGE: []}
    with berth_stack("bapi", workers=0) as bs:
        instance = bs.instance
        url = bs.stack.settings.require_database_url()
        for i in range(SMALL):
            r = bs.client.post("/tenants", json={"slug": f"ar{i}-{tag}"})
            if r.status_code != 202:
                raise RuntimeError(f"POST /tenants: {r.status_code} {r.text[:300]}")
        for rnd in range(rounds):
            for size in (SMALL, LARGE, MEDIUM):
                _set_size(url, tag, size)
                items = len(bs.client.get("/tenants", params={"limit": PAGE}).json()["items"])
                times[size] += _measure(bs.client, n)
                log(
                    f"  round {rnd + 1}/{rounds}, {size} rows ({items} per page): "
                    f"p50 {percentile(times[size][-n:], 50):.1f} ms, "
                    f"p99 {percentile(times[size][-n:], 99):.1f} ms"
                )
    check_clean(instance)
    samples = n * rounds
    note = (
        f"{samples} sequential requests per size over {rounds} alternating rounds; rows "
        "copied in PostgreSQL from 10 real signups; no containers"
    )
    out: list[Row] = []
    for pct in (50, 99):
        out.append(
            Row(
                NAME,
                f"GET /tenants?limit={PAGE} p{pct}, {LARGE:,} rows vs {SMALL}",
                percentile(times[LARGE], pct),
                percentile(times[SMALL], pct),
                "ms",
                max_ratio=TARGET,
                samples=samples,
                note=note if pct == 50 else "",
            )
        )
    for pct in (50, 99):
        out.append(
            Row(
                NAME,
                f"GET /tenants?limit={PAGE} p{pct}, {LARGE:,} rows vs {MEDIUM} (both full pages)",
                percentile(times[LARGE], pct),
                percentile(times[MEDIUM], pct),
                "ms",
                samples=samples,
                note="same page size on both sides: what the table's size alone costs"
                if pct == 50
                else "",
            )
        )
    return out


BENCHMARK = Benchmark(NAME, "GET /tenants?limit=100 latency, 10,000 rows vs 10", run)
