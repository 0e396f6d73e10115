"""Retention of tenant_events: old events are deleted, their counts folded into
tenant_event_rollup, and every lifecycle series of /metrics stays exactly the same.

Real PostgreSQL; no Docker. Old events are inserted with an explicit `at` (the
triggers stamp clock_timestamp(), so nothing else can make a 40-day-old event) for a
real tenant signed up through the API while no worker runs.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select, text

from controlplane.events.repository import EventRepository
from controlplane.metrics.repository import (
    BOUNDS,
    COUNTED_KINDS,
    KindTotals,
    MetricsRepository,
    bound_key,
    rolled_bucket,
)
from controlplane.models import Tenant, TenantEvent, TenantEventRollup
from controlplane.settings import Settings
from provisioner.celery_app import make_celery
from provisioner.retention import prune_before, prune_expired
from tests.conftest import wait_until
from tests.fixtures.stack import Stack

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=40)
CUTOFF = NOW - timedelta(days=30)
RECENT = NOW - timedelta(days=1)
# The lifecycle families the events feed (the scrape compares every line anyway).
LIFECYCLE = (
    "berth_provisions_total ",
    "berth_provision_failures_total ",
    'berth_provision_duration_seconds_bucket{le="+Inf"} ',
    "berth_provision_duration_seconds_sum ",
    "berth_pauses_total ",
    "berth_wakes_total ",
    'berth_wake_duration_seconds_bucket{le="0.005"} ',
    "berth_wake_duration_seconds_sum ",
)

Row = tuple[str, float | None, datetime]
Rolled = dict[str, tuple[int, int, Decimal, dict[str, int]]]


@dataclass
class Mine:
    id: uuid.UUID
    slug: str



@pytest.fixture
async def tenant(client: httpx.AsyncClient, app: Any) -> Mine:
    """A real tenant row (the events' foreign key), deleted through the API at once:
    its row stays (deletion is soft), and no worker ever serves it."""
    slug = "r" + uuid.uuid4().hex[:10]
    r = await client.post("/tenants", json={"slug": slug})
    assert r.status_code == 202, r.text
    assert (await client.delete(f"/tenants/{slug}")).status_code == 202
    async with app.state.sessionmaker() as s:
        tenant_id = (await s.execute(select(Tenant.id).where(Tenant.slug == slug))).scalar_one()
    return Mine(tenant_id, slug)


def events(at: datetime, seed: int, n: int) -> list[Row]:
    """`n` events of every kind the metrics count and a few they do not, with
    durations that are awkward floats, exact bucket bounds, past the last bound, or
    none (as the triggers write them for pauses and wake requests)."""
    rng = random.Random(seed)
    rows: list[Row] = []
    for i in range(n):
        rows.append(("routed", rng.uniform(0.1, 150.0) if i % 7 else None, at))
        rows.append(("provision_failed", rng.choice([0.5, 120.0, rng.uniform(0, 200)]), at))
        rows.append(("woken", rng.choice([0.005, 30.0, rng.expovariate(8.0)]), at))
        rows.append(("paused", None, at))
        rows.append(("wake_requested", None, at))
        rows.append((rng.choice(["creating", "starting", "incident", "deleted"]), None, at))
    return rows


async def insert_events(app: Any, tenant: Mine, rows: list[Row]) -> list[int]:
    values = [
        {"tenant_id": tenant.id, "slug": tenant.slug, "kind": k, "duration_seconds": d, "at": at}
        for k, d, at in rows
    ]
    async with app.state.sessionmaker() as s:
        ids = (await s.execute(insert(TenantEvent).returning(TenantEvent.id), values)).scalars()
        out = list(ids)
        await s.commit()
    return out


async def scrape(client: httpx.AsyncClient) -> list[str]:
    """Every sample line of /metrics but the scrape's own duration, as text."""
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    return [
        line
        for line in r.text.splitlines()
        if not line.startswith(("#", "berth_scrape_duration_seconds"))
    ]


def value(lines: list[str], prefix: str) -> float:
    (line,) = [line for line in lines if line.startswith(prefix)]
    return float(line.rsplit(" ", 1)[1])


async def totals(app: Any) -> list[KindTotals]:
    async with app.state.sessionmaker() as s:
        return await MetricsRepository(s).lifecycle_totals()


async def rolled(app: Any) -> Rolled:
    async with app.state.sessionmaker() as s:
        rows = (await s.execute(select(TenantEventRollup))).scalars()
        return {r.kind: (r.count, r.timed, r.duration_sum, dict(r.buckets)) for r in rows}


async def old_left(app: Any, tenant: Mine) -> int:
    async with app.state.sessionmaker() as s:
        stmt = select(func.count()).where(
            TenantEvent.tenant_id == tenant.id, TenantEvent.at < CUTOFF
        )
        return int((await s.execute(stmt)).scalar_one())


async def newer_ids(app: Any, tenant: Mine) -> set[int]:
    async with app.state.sessionmaker() as s:
        stmt = select(TenantEvent.id).where(
            TenantEvent.tenant_id == tenant.id, TenantEvent.at >= CUTOFF
        )
        return set((await s.execute(stmt)).scalars())


def assert_folded(before: Rolled, after: Rolled, rows: list[Row]) -> None:
    """The rollup grew by exactly the counted events among `rows`, each once."""
    for kind in COUNTED_KINDS:
        durations = [d for k, d, _ in rows if k == kind]
        timed = [d for d in durations if d is not None]
        n0, t0, s0, b0 = before.get(kind, (0, 0, Decimal(0), {}))
        n1, t1, s1, b1 = after.get(kind, (0, 0, Decimal(0), {}))
        assert (n1 - n0, t1 - t0) == (len(durations), len(timed)), kind
        assert float(s1 - s0) == pytest.approx(sum(timed), rel=1e-12, abs=1e-12), kind
        for b in BOUNDS:
            key = bound_key(b)
            got = b1.get(key, 0) - b0.get(key, 0)
            assert got == sum(1 for d in timed if d <= b), (kind, key)
    assert set(after) <= set(COUNTED_KINDS)


async def test_prune_keeps_every_lifecycle_series(
    client: httpx.AsyncClient, app: Any, quiet: None, tenant: Mine
) -> None:
    empty = await scrape(client)
    old, recent = events(OLD, 1, 30), events(RECENT, 2, 5)
    await insert_events(app, tenant, old)
    recent_ids = await insert_events(app, tenant, recent)
    before, totals_before, rolled_before = (
        await scrape(client),
        await totals(app),
        await rolled(app),
    )
    kept = await newer_ids(app, tenant)
    assert kept > set(recent_ids)  # and what the triggers wrote at signup and delete
    # The inserted events are in the scrape, old and recent alike.
    provisions = sum(1 for k, _, _ in old + recent if k in ("routed", "provision_failed"))
    gained = value(before, LIFECYCLE[0]) - value(empty, LIFECYCLE[0])
    assert gained == provisions
    for prefix in LIFECYCLE:
        value(before, prefix)  # present, once

    # Small batches: the fold must add up across many transactions.
    result = await prune_before(app.state.engine, app.state.sessionmaker, CUTOFF, batch=17)

    assert result.deleted == len(old) and not result.skipped
    assert result.folded == sum(1 for k, _, _ in old if k in COUNTED_KINDS)
    assert result.batches == len(old) // 17 + 1
    assert await old_left(app, tenant) == 0
    # The recent events and the triggers' own (signed_up, ..., written now) stay.
    assert await newer_ids(app, tenant) == kept
    assert_folded(rolled_before, await rolled(app), old)

    # Byte for byte the same scrape, and the same totals (wake requests included).
    assert await scrape(client) == before
    assert await totals(app) == totals_before

    # Again: nothing left to prune, nothing changes.
    folded = await rolled(app)
    again = await prune_before(app.state.engine, app.state.sessionmaker, CUTOFF, batch=17)
    assert (again.deleted, again.folded, again.batches) == (0, 0, 1)
    assert await rolled(app) == folded
    assert await scrape(client) == before


async def lock_waits(app: Any) -> int:
    async with app.state.engine.connect() as conn:
        stmt = text("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return int((await conn.execute(stmt)).scalar_one())


async def test_concurrent_prunes_fold_each_event_once(
    client: httpx.AsyncClient, app: Any, quiet: None, tenant: Mine
) -> None:
    old = events(OLD, 3, 40)
    await insert_events(app, tenant, old)
    before, totals_before, rolled_before = (
        await scrape(client),
        await totals(app),
        await rolled(app),
    )
    engine, sessionmaker = app.state.engine, app.state.sessionmaker

    # One prune's batch is deleted and folded but not committed yet when another prune
    # starts: that one skips the held rows, takes the others, and waits on the rollup
    # rows the first holds until it commits.
    async with sessionmaker() as held:
        first = await EventRepository(held).prune_batch(CUTOFF, limit=25)
        assert first.deleted == 25
        other = asyncio.create_task(prune_before(engine, sessionmaker, CUTOFF, batch=10))

        async def waiting() -> bool:
            return await lock_waits(app) > 0

        await wait_until(waiting, timeout=30, what="the second prune to wait on the rollup")
        await held.commit()
    result = await asyncio.wait_for(other, timeout=30)
    assert result.deleted == len(old) - 25
    assert await old_left(app, tenant) == 0
    assert_folded(rolled_before, await rolled(app), old)
    assert await scrape(client) == before
    assert await totals(app) == totals_before

    # A prune that crashes mid-batch leaves its batch neither deleted nor counted.
    more = events(OLD, 4, 20)
    await insert_events(app, tenant, more)
    before, totals_before = await scrape(client), await totals(app)
    async with sessionmaker() as crashed:
        assert (await EventRepository(crashed).prune_batch(CUTOFF, limit=25)).deleted == 25
        await crashed.rollback()
    assert await old_left(app, tenant) == len(more)
    assert_folded(rolled_before, await rolled(app), old)

    # Two whole prunes at once (the advisory lock lets one work, or they run in turn):
    # every event is folded exactly once.
    a, b = await asyncio.gather(
        prune_before(engine, sessionmaker, CUTOFF, batch=4),
        prune_before(engine, sessionmaker, CUTOFF, batch=4),
    )
    assert a.deleted + b.deleted == len(more)
    assert await old_left(app, tenant) == 0
    assert_folded(rolled_before, await rolled(app), old + more)
    assert await scrape(client) == before
    assert await totals(app) == totals_before


async def test_retention_setting(
    app: Any, quiet: None, tenant: Mine, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = events(OLD, 4, 3)
    await insert_events(app, tenant, old)
    engine, sessionmaker = app.state.engine, app.state.sessionmaker

    monkeypatch.setenv("BERTH_EVENT_RETENTION_DAYS", "0")
    keep_all = Settings()
    assert keep_all.event_retention_days == 0
    result = await prune_expired(keep_all, engine, sessionmaker)
    assert result.skipped and result.deleted == 0
    assert await old_left(app, tenant) == len(old)

    monkeypatch.delenv("BERTH_EVENT_RETENTION_DAYS")
    default = Settings()
    assert default.event_retention_days == 30
    result = await prune_expired(default, engine, sessionmaker)
    assert result.deleted == len(old)
    assert await old_left(app, tenant) == 0


def test_beat_runs_the_prune_hourly(stack: Stack) -> None:
    """berth.prune_events is a registered task and on beat's schedule, expiring like
    the other sweeps (its body is prune_expired, tested above)."""
    import provisioner.tasks  # noqa: F401 - registers the tasks on the app

    assert "berth.prune_events" in provisioner.tasks.app.tasks
    entry = make_celery(stack.settings).conf.beat_schedule["prune-events"]
    assert entry == {
        "task": "berth.prune_events",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    }


def test_a_bound_added_after_a_prune_keeps_the_histogram_cumulative() -> None:
    """Pruned events have no count for a bound added later: they count at the next
    lower bound (never more than at a higher one, never less than at a lower one)."""
    buckets = {"0.5": 2, "1.0": 5, "120.0": 9}
    assert [rolled_bucket(buckets, b) for b in (0.25, 0.5, 0.75, 1.0, 60.0, 120.0, 300.0)] == [
        0,
        2,
        2,
        5,
        5,
        9,
        9,
    ]
