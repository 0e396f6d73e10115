"""Pure pieces of monitoring: usage arithmetic, the exposition writer, page filters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from controlplane.dashboard.views import ago, cores, mib
from controlplane.events.usage import UsageRow
from controlplane.metrics.collector import exposition
from provisioner.usage import cpu_rate, measure

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_measure_counts_memory_without_reclaimable_cache() -> None:
    stats = {
        "cpu_stats": {"cpu_usage": {"total_usage": 5_000_000_000}},
        "memory_stats": {"usage": 100 * 2**20, "stats": {"inactive_file": 30 * 2**20}},
    }
    m = measure(stats)
    assert m.cpu_ns == 5_000_000_000 and m.memory_bytes == 70 * 2**20
    # cgroup v1 spells it total_inactive_file; a stopped container reports nothing.
    v1 = {"memory_stats": {"usage": 10, "stats": {"total_inactive_file": 4}}}
    assert measure(v1).memory_bytes == 6
    assert measure({}).memory_bytes == 0 and measure({}).cpu_ns == 0


def test_cpu_rate_needs_a_previous_sample_of_the_same_container() -> None:
    tid = uuid.uuid4()
    prev = UsageRow(tid, "c1", 1_000_000_000, None, 1, T0)
    later = T0 + timedelta(seconds=2)
    assert cpu_rate(prev, "c1", 2_000_000_000, later) == 0.5  # 1 s of CPU in 2 s
    assert cpu_rate(None, "c1", 2_000_000_000, later) is None  # first sample
    assert cpu_rate(prev, "c2", 2_000_000_000, later) is None  # a new container
    assert cpu_rate(prev, "c1", 10, later) is None  # counter went back: restarted
    assert cpu_rate(prev, "c1", 2_000_000_000, T0) is None  # no time passed


def test_exposition_matches_prometheus_client() -> None:
    gauge = GaugeMetricFamily("berth_x", 'doc with "quotes" \\ and\nnewline', labels=["tenant"])
    gauge.add_metric(['we"ird\\slug\n'], 1.5)
    gauge.add_metric(["plain"], 0)
    counter = CounterMetricFamily("berth_y", "a counter", labels=["a", "b"])
    counter.add_metric(["1", "2"], 3)
    plain = GaugeMetricFamily("berth_z", "no labels", value=float("inf"))
    families: list[Metric] = [gauge, counter, plain]

    class Fixed:
        def collect(self) -> list[Metric]:
            return families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed())  # type: ignore[arg-type]
    assert exposition(families) == generate_latest(registry)


def test_page_filters_read_well() -> None:
    assert cores(None) == "–" and cores(0.123) == "0.12"
    assert mib(None) == "–" and mib(50 * 2**20) == "50 MiB"
    now = datetime.now(UTC)
    assert ago(None) == "never"
    assert ago(now - timedelta(seconds=5)) == "5 s ago"
    assert ago(now - timedelta(minutes=3, seconds=1)) == "3 min ago"
    assert ago(now - timedelta(hours=2, seconds=1)) == "2 h ago"
