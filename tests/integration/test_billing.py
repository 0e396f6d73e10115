"""The usage ledger and the billing export (real engine, worker, PostgreSQL).

The ledger driven by a real tenant is checked on both runtimes (on Swarm the tenant
pauses by stop: there is no freezer); the rest is PostgreSQL and the API only.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import wait_state
from tests.fixtures.backends import BOTH
from tests.fixtures.plans import PLAN_LIMITS, make_plan
from tests.fixtures.stack import BerthProcess, Stack
from tests.integration.test_idle import freeze_or_stop, signup

pytestmark = pytest.mark.docker

# 100 cents a second running and 10 a second paused: amounts big enough to check.
ACTIVE_CENTS_PER_HOUR = 360_000
PAUSED_CENTS_PER_HOUR = 36_000


def this_period() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


async def export_json(client: httpx.AsyncClient, period: str) -> dict[str, object]:
    r = await client.get("/billing/export", params={"period": period, "format": "json"})
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def row_for(body: dict[str, object], slug: str) -> dict[str, object]:
    rows = [r for r in body["rows"] if r["tenant"] == slug]  # type: ignore[attr-defined]
    assert len(rows) == 1, body
    row: dict[str, object] = rows[0]
    return row


@BOTH
async def test_export_matches_the_intervals_driven(
    client: httpx.AsyncClient, live_worker: BerthProcess, stack: Stack, slug: str
) -> None:
    plan = await make_plan(
        client,
        pause_mode=freeze_or_stop(stack),
        price_active_cents=ACTIVE_CENTS_PER_HOUR,
        price_paused_cents=PAUSED_CENTS_PER_HOUR,
        currency="EUR",
    )
    await signup(client, slug, plan)
    await wait_state(client, slug, "running")
    t0 = time.time()
    await asyncio.sleep(3)  # running for ~3 s
    assert (await client.post(f"/tenants/{slug}/pause")).status_code == 202
    await wait_state(client, slug, "paused")
    t1 = time.time()
    await asyncio.sleep(2)  # paused for ~2 s
    assert (await client.post(f"/tenants/{slug}/resume")).status_code == 202
    await wait_state(client, slug, "running")
    t2 = time.time()
    await asyncio.sleep(1)
    body = await export_json(client, this_period())
    t3 = time.time()

    assert body["status"] == "provisional" and body["provisional"] is True
    row = row_for(body, slug)
    active, paused = float(row["active_seconds"]), float(row["paused_seconds"])  # type: ignore[arg-type]
    # Within one second per interval the test drove (two running, one paused).
    assert abs(active - ((t1 - t0) + (t3 - t2))) <= 2.0, (active, t0, t1, t2, t3)
    assert abs(paused - (t2 - t1)) <= 1.0, (paused, t1, t2)
    assert row["plan"] == plan and row["currency"] == "EUR"
    amount = row["amount_cents"]
    assert isinstance(amount, int)
    # The amount is the exact price of the exact durations, rounded once.
    assert abs(amount - (active * 100 + paused * 10)) <= 1, (amount, active, paused)
    assert float(row["cpu_core_hours"]) == pytest.approx(active * 0.5 / 3600, abs=1e-6)  # type: ignore[arg-type]
    assert float(row["gb_hours"]) == pytest.approx(active * 64 / 1024 / 3600, abs=1e-6)  # type: ignore[arg-type]

    ledger = (await client.get(f"/tenants/{slug}/usage")).json()
    assert [e["state"] for e in ledger] == ["running", "paused", "running"]
    assert [e["seq"] for e in ledger] == [1, 2, 3]
    ats = [datetime.fromisoformat(e["at"]) for e in ledger]
    assert ats == sorted(ats)  # intervals follow each other, never overlap

    # CSV: the same rows, and totals per currency that are the sum of the rows.
    r = await client.get("/billing/export", params={"period": this_period(), "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(r.text)))
    totals = [t for t in table if t["tenant"] == "TOTAL" and t["currency"] == "EUR"]
    rows = [t for t in table if t["tenant"] != "TOTAL" and t["currency"] == "EUR"]
    assert len(totals) == 1
    assert int(totals[0]["amount_cents"]) == sum(int(t["amount_cents"]) for t in rows)

    # A deleted tenant's usage up to its deletion is still billed.
    assert (await client.delete(f"/tenants/{slug}")).status_code == 202
    await wait_state_gone(client, slug)
    after = row_for(await export_json(client, this_period()), slug)
    assert float(after["active_seconds"]) >= active  # type: ignore[arg-type]
    frozen_active = float(after["active_seconds"])  # type: ignore[arg-type]
    await asyncio.sleep(1.5)
    again = row_for(await export_json(client, this_period()), slug)
    assert float(again["active_seconds"]) == frozen_active  # nothing accrues after deletion  # type: ignore[arg-type]


async def wait_state_gone(client: httpx.AsyncClient, slug: str) -> None:
    for _ in range(600):
        if (await client.get(f"/tenants/{slug}")).status_code == 404:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{slug} was not deleted")


async def test_closed_period_is_frozen_byte_for_byte(
    client: httpx.AsyncClient, stack: Stack, slug: str
) -> None:
    plan = await make_plan(client, price_active_cents=120, price_paused_cents=30)
    await signup(client, slug, plan)  # no worker needed: only its row matters here
    tenant_id = (await client.get(f"/tenants/{slug}")).json()
    engine = create_async_engine(stack.settings.require_database_url())
    try:
        async with engine.begin() as conn:
            tid = (
                await conn.execute(text("SELECT id FROM tenants WHERE slug = :s"), {"s": slug})
            ).scalar_one()
            # March 2001 (long closed): 2 h running, then 12 h paused, then off.
            for seq, at, state, price in (
                (1001, "2001-03-01T10:00:00Z", "running", 120),
                (1002, "2001-03-01T12:00:00Z", "paused", 30),
                (1003, "2001-03-02T00:00:00Z", "off", 0),
            ):
                await conn.execute(
                    text(
                        "INSERT INTO usage_ledger (tenant_id, seq, slug, at, state, plan, cpu, "
                        "memory_mb, price_cents_per_hour, currency) VALUES (:t, :seq, :slug, "
                        ":at, :state, :plan, 0.5, 1024, :price, 'USD')"
                    ),
                    {
                        "t": tid,
                        "seq": seq,
                        "slug": slug,
                        "at": datetime.fromisoformat(at),
                        "state": state,
                        "plan": plan,
                        "price": price,
                    },
                )
        first_json = await client.get("/billing/export", params={"period": "2001-03"})
        first_csv = await client.get(
            "/billing/export", params={"period": "2001-03", "format": "csv"}
        )
        assert first_json.status_code == 200 and first_csv.status_code == 200
        body = first_json.json()
        assert body["status"] == "final" and body["provisional"] is False
        row = row_for(body, slug)
        assert row["active_seconds"] == "7200.000" and row["paused_seconds"] == "43200.000"
        assert row["amount_cents"] == 2 * 120 + 12 * 30
        assert row["cpu_core_hours"] == "1.000000" and row["gb_hours"] == "2.000000"

        # Whatever happens later: new prices, a late ledger entry, the tenant deleted.
        r = await client.patch(f"/plans/{plan}", json={"price_active_cents": 999})
        assert r.status_code == 200
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO usage_ledger (tenant_id, seq, slug, at, state, plan, cpu, "
                    "memory_mb, price_cents_per_hour, currency) VALUES (:t, 1099, :slug, "
                    "'2001-03-01T11:00:00Z'::timestamptz, 'running', :plan, 4, 4096, 999, 'USD')"
                ),
                {"t": tid, "slug": slug, "plan": plan},
            )
        assert (await client.delete(f"/tenants/{slug}")).status_code == 202
        again_json = await client.get("/billing/export", params={"period": "2001-03"})
        again_csv = await client.get(
            "/billing/export", params={"period": "2001-03", "format": "csv"}
        )
        assert again_json.content == first_json.content
        assert again_csv.content == first_csv.content
    finally:
        await engine.dispose()
    assert tenant_id["slug"] == slug


async def test_ledger_is_append_only(client: httpx.AsyncClient, stack: Stack) -> None:
    engine = create_async_engine(stack.settings.require_database_url())
    try:
        for statement in (
            "UPDATE usage_ledger SET price_cents_per_hour = 0",
            "DELETE FROM usage_ledger",
            "TRUNCATE usage_ledger",
            "DELETE FROM billing_statements",
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                async with engine.begin() as conn:
                    await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "2026-13"}, "period"),
        ({"period": "26-11"}, "period"),
        ({"period": "2026-1"}, "period"),
        ({"period": "2099-01"}, "period"),
        ({"period": "1999-12"}, "period"),
        ({"period": "2026-11", "format": "xml"}, "format"),
        ({}, "query.period"),
    ],
)
async def test_export_refuses_bad_input(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    r = await client.get("/billing/export", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field


async def test_plans_api_validates(client: httpx.AsyncClient) -> None:
    name = "p" + uuid.uuid4().hex[:8]
    base = {"name": name, **PLAN_LIMITS}
    for bad, field in (
        ({"pause_mode": "sleep"}, "pause_mode"),
        ({"price_active_cents": -1}, "price_active_cents"),
        ({"price_active_cents": 1.5}, "price_active_cents"),
        ({"currency": "usd"}, "currency"),
        ({"idle_after": 0}, "idle_after"),
        ({"cpu": 2.0}, "cpu"),
    ):
        r = await client.post("/plans", json={**base, **bad})
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["field"] == field, (bad, r.json())
    assert (await client.get(f"/plans/{name}")).status_code == 404  # nothing half-written
    r = await client.post("/plans", json={**base, "idle_after": 60, "pause_mode": "stop"})
    assert r.status_code == 201
    assert (await client.post("/plans", json=base)).status_code == 409
    r = await client.patch(f"/plans/{name}", json={"idle_after": None, "price_paused_cents": 3})
    assert r.status_code == 200
    assert (r.json()["idle_after"], r.json()["price_paused_cents"]) == (None, 3)
    r = await client.patch(f"/plans/{name}", json={"pause_mode": None})
    assert r.status_code == 422 and r.json()["field"] == "pause_mode"
    assert (await client.patch("/plans/nope", json={"cpu": 1})).status_code == 404
    plans = {p["name"]: p for p in (await client.get("/plans")).json()}
    assert {"free", "standard", "pro"} <= plans.keys()
    assert plans["pro"]["idle_after"] is None  # seeded: pro never pauses
