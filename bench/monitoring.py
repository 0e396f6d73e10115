"""`monitoring`: the cost of a /metrics scrape and of the dashboard's fleet page at
1,000 tenants.

A real Berth (embedded PostgreSQL + Redis, the API as a uvicorn process; no worker and
no container is needed) gets 1,000 live tenant rows inserted directly in PostgreSQL,
each with a measured-usage row, ten lifecycle events (so the provision and wake
histograms aggregate 10,000 rows) and one incident. Then, alternating:
- `GET /metrics` with the admin token (Prometheus' view; every family, 1,000 tenants);
- `GET /dashboard` with a signed-in session cookie (the fleet page, 1,000 table rows);
- the baseline: a bare `SELECT` of the same per-tenant rows (slug, state, restarts,
  limits and measured usage) over one asyncpg connection from this process. It is
  what any scrape or page must at least read; the difference is Berth's aggregates,
  rendering and HTTP.
- `GET /healthz` (the HTTP floor of the same server) as a detail row.
Quick mode times 15 requests of each, full mode 60; p50 is the headline.
"""

from __future__ import annotations

import asyncio
import re
import time

import asyncpg
import httpx

from bench.harness import Benchmark, Row, RunConfig, percentile
from bench.stack import BenchStack, berth_stack
from controlplane.tenants.changes import asyncpg_dsn
from tests.fixtures.stack import ADMIN_TOKEN

NAME = "monitoring"
TENANTS = 1000
QUICK_SAMPLES = 15
FULL_SAMPLES = 60

SEED = """
INSERT INTO tenants (id, slug, plan, blueprint_version, env, cpu, memory_mb, pids,
                     desired_state, keep_data, generation, state, observed_generation,
                     container_id, restart_count, observed_restarts, last_active_at,
                     created_at, updated_at)
SELECT gen_random_uuid(), 'mon-' || lpad(i::text, 4, '0'), 'standard', '1', '{}'::jsonb,
       0.5, 256, 128, 'running', false, 1,
       CASE WHEN i % 10 = 0 THEN 'paused' ELSE 'running' END, 1,
       md5(i::text), i % 3, 0, now(), now(), now()
FROM generate_series(1, $1) AS i;
"""
SEED_USAGE = """
INSERT INTO tenant_usage (tenant_id, container_id, cpu_ns, cpu_cores, memory_bytes, sampled_at)
SELECT id, container_id, 123456789, 0.02, 50 * 1024 * 1024, now() FROM tenants
WHERE slug LIKE 'mon-%';
"""
SEED_EVENTS = """
INSERT INTO tenant_events (tenant_id, slug, kind, duration_seconds)
SELECT t.id, t.slug, (ARRAY['routed', 'paused', 'woken', 'creating', 'starting'])[1 + k % 5],
       CASE WHEN k % 5 IN (0, 2) THEN (k % 7) * 0.37 END
FROM tenants t, generate_series(1, 10) AS k WHERE t.slug LIKE 'mon-%';
"""
SEED_INCIDENTS = """
INSERT INTO incidents (tenant_id, slug, kind, severity, restart_count, occurrences, source,
                       detail, opened_at, last_seen_at)
SELECT id, slug, 'oom', 'warning', 0, 1, 'events', '{}'::jsonb, now(), now()
FROM tenants WHERE slug LIKE 'mon-%';
"""
BASELINE = """
SELECT t.slug, t.state, t.restart_count, t.cpu, t.memory_mb, u.cpu_cores, u.memory_bytes
FROM tenants t LEFT JOIN tenant_usage u ON u.tenant_id = t.id
WHERE t.deleted_at IS NULL ORDER BY t.slug
"""


async def _seed(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(SEED, TENANTS)
            for stmt in (SEED_USAGE, SEED_EVENTS, SEED_INCIDENTS):
                await conn.execute(stmt)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def _select_times(dsn: str, samples: int) -> tuple[list[float], int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(BASELINE)  # warm-up
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            rows = await conn.fetch(BASELINE)
            times.append(time.perf_counter() - started)
        return times, len(rows)
    finally:
        await conn.close()


def _session_cookie(bs: BenchStack) -> str:
    """Sign in through the real form (the login CSRF cookie included)."""
    with httpx.Client(base_url=bs.base_url, timeout=30, follow_redirects=False) as h:
        page = h.get("/dashboard/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None, "no login form"
        cookie = page.cookies.get("berth_login_csrf") or ""
        r = h.post(
            "/dashboard/login",
            content=f"key={ADMIN_TOKEN}&csrf={csrf.group(1)}",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"berth_login_csrf={cookie}",
            },
        )
        assert r.status_code == 303, r.text
        sid = r.cookies.get("berth_session")
        assert sid, "no session cookie"
        return f"berth_session={sid}"


def _time(h: httpx.Client, path: str, headers: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    r = h.get(path, headers=headers)
    elapsed = time.perf_counter() - started
    assert r.status_code == 200, (path, r.status_code, r.text[:200])
    return elapsed, len(r.content)


def run(cfg: RunConfig) -> list[Row]:
    samples = FULL_SAMPLES if cfg.full else QUICK_SAMPLES
    ms = 1000.0
    with berth_stack("monitoring", workers=0) as bs:
        dsn = asyncpg_dsn(bs.stack.settings.require_database_url())
        asyncio.run(_seed(dsn))
        cookie = _session_cookie(bs)
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        page = {"Cookie": cookie}
        scrape: list[float] = []
        render: list[float] = []
        health: list[float] = []
        with httpx.Client(base_url=bs.base_url, timeout=60) as h:
            _, scrape_bytes = _time(h, "/metrics", auth)  # warm-up (pools, templates)
            _, page_bytes = _time(h, "/dashboard", page)
            h.get("/healthz")
            for _ in range(samples):
                scrape.append(_time(h, "/metrics", auth)[0])
                render.append(_time(h, "/dashboard", page)[0])
                health.append(_time(h, "/healthz", {})[0])
        select, fetched = asyncio.run(_select_times(dsn, samples))
    assert fetched == TENANTS, f"baseline read {fetched} rows"
    base50 = percentile(select, 50) * ms
    note = f"{TENANTS} tenants; baseline: bare SELECT of the same rows"
    return [
        Row(
            NAME,
            f"/metrics scrape p50 ({scrape_bytes // 1024} KiB)",
            percentile(scrape, 50) * ms,
            base50,
            "ms",
            note=note,
            samples=samples,
        ),
        Row(
            NAME,
            f"dashboard fleet page p50 ({page_bytes // 1024} KiB HTML)",
            percentile(render, 50) * ms,
            base50,
            "ms",
            note=note,
            samples=samples,
        ),
        Row(
            NAME,
            "/metrics scrape p99",
            percentile(scrape, 99) * ms,
            percentile(select, 99) * ms,
            "ms",
            note=note,
            samples=samples,
            detail=True,
        ),
        Row(
            NAME,
            "dashboard fleet page p99",
            percentile(render, 99) * ms,
            percentile(select, 99) * ms,
            "ms",
            note=note,
            samples=samples,
            detail=True,
        ),
        Row(
            NAME,
            "/healthz p50 (HTTP floor, vs the SELECT)",
            percentile(health, 50) * ms,
            base50,
            "ms",
            samples=samples,
            detail=True,
        ),
    ]


BENCHMARK = Benchmark(NAME, "/metrics scrape and dashboard page cost at 1,000 tenants", run)
