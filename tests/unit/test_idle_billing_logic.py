"""Pure rules of the edge, the idle sweep and the billing arithmetic."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from controlplane.billing.service import build, compute, parse_period, render
from controlplane.edge.service import slug_from_host
from controlplane.errors import InvalidInput
from controlplane.models import UsageEntry
from provisioner.idle import Sample, is_busy


@pytest.mark.parametrize(
    ("host", "slug"),
    [
        ("acme.example.com", "acme"),
        ("ACME.Example.com:443", "acme"),
        ("acme.example.com.", "acme"),
        ("a.b.example.com", None),
        ("example.com", None),
        ("acme.example.org", None),
        ("acme.example.com.evil.net", None),
        ("[::1]:443", None),
        ("-x-.example.com", None),
    ],
)
def test_slug_from_host(host: str, slug: str | None) -> None:
    assert slug_from_host(host, "example.com") == slug


def test_busy_is_a_rate_above_either_threshold() -> None:
    prev = Sample(100.0, "c", 0, 0)
    quiet = Sample(110.0, "c", int(0.01 * 10 * 1e9), 10 * 100)  # 0.01 cores, 100 B/s
    assert not is_busy(prev, quiet, cpu_threshold=0.05, net_threshold=512)
    cpu = Sample(110.0, "c", int(0.2 * 10 * 1e9), 0)
    assert is_busy(prev, cpu, cpu_threshold=0.05, net_threshold=512)
    net = Sample(110.0, "c", 0, 10 * 4096)
    assert is_busy(prev, net, cpu_threshold=0.05, net_threshold=512)
    assert not is_busy(prev, Sample(100.0, "c", 10**12, 10**9), cpu_threshold=0, net_threshold=0)


def test_sample_reads_docker_stats() -> None:
    stats = {
        "cpu_stats": {"cpu_usage": {"total_usage": 123}},
        "networks": {"eth0": {"rx_bytes": 10, "tx_bytes": 5}, "eth1": {"rx_bytes": 1}},
    }
    assert Sample.from_stats(1.0, "c", stats) == Sample(1.0, "c", 123, 16)
    assert Sample.from_stats(1.0, "c", {}) == Sample(1.0, "c", 0, 0)


def test_periods() -> None:
    now = datetime(2026, 11, 22, tzinfo=UTC)
    assert parse_period("2026-11", now) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert parse_period("2025-12", now)[1] == datetime(2026, 1, 1, tzinfo=UTC)
    for bad in ("2026-12", "2026-00", "2026-1", "x", "1999-12"):
        with pytest.raises(InvalidInput) as err:
            parse_period(bad, now)
        assert err.value.field == "period"


def _entry(tid: uuid.UUID, seq: int, at: datetime, state: str, price: int) -> UsageEntry:
    return UsageEntry(
        tenant_id=tid,
        seq=seq,
        slug="acme",
        at=at,
        state=state,
        plan="p",
        cpu=0.5,
        memory_mb=512,
        price_cents_per_hour=price,
        currency="USD",
    )


def test_compute_clips_to_the_period_and_rounds_once_per_row() -> None:
    tid = uuid.uuid4()
    start = datetime(2026, 10, 1, tzinfo=UTC)
    end = datetime(2026, 11, 1, tzinfo=UTC)
    entries = [
        # Running since before the period: only the part inside it counts.
        _entry(tid, 1, start - timedelta(hours=5), "running", 3),
        _entry(tid, 2, start + timedelta(minutes=20), "paused", 1),  # 20 min running
        _entry(tid, 3, start + timedelta(minutes=50), "off", 0),  # 30 min paused
    ]
    (usage,) = compute(entries, start=start, end=end, until=end + timedelta(days=3))
    row = usage.row("2026-10", "final")
    assert row["active_seconds"] == "1200.000" and row["paused_seconds"] == "1800.000"
    # 3 c/h × 1/3 h + 1 c/h × 1/2 h = 1.5 c: one half-up rounding → 2, not 1 + 1 or 1 + 0.
    assert row["amount_cents"] == 2
    assert row["cpu_core_hours"] == "0.166667"  # 0.5 cores × 1/3 h
    assert row["gb_hours"] == "0.166667"  # 0.5 GiB × 1/3 h


def test_open_interval_runs_until_now_and_render_is_deterministic() -> None:
    tid = uuid.uuid4()
    start = datetime(2026, 11, 1, tzinfo=UTC)
    now = start + timedelta(hours=2)
    usage = compute(
        [_entry(tid, 1, start + timedelta(hours=1), "running", 60)],
        start=start,
        end=datetime(2026, 12, 1, tzinfo=UTC),
        until=now,
    )
    body = build("2026-11", "provisional", usage, now)
    assert body["rows"][0]["amount_cents"] == 60
    assert body["totals"][0]["amount_cents"] == 60
    assert render(body, "csv") == render(body, "csv")
    assert render(body, "json")[0].startswith(b'{\n  "period": "2026-11"')
