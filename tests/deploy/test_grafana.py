"""The provisioned Grafana dashboard is valid and only queries metrics Berth exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from controlplane.metrics.collector import build_families, lifecycle_families
from controlplane.metrics.repository import (
    PROVISION_BUCKETS,
    WAKE_BUCKETS,
    FleetSnapshot,
    IncidentKindTotals,
    KindTotals,
    LiveTenant,
    RolloutProgress,
    TenantGroup,
)

DASHBOARDS = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards"
METRIC = re.compile(r"\bberth_[a-z_]+\b")
GROUPING = re.compile(r"\bby \(([^)]*)\)")
MATCHERS = re.compile(r"(berth_[a-z_]+)\{([^}]*)\}")


def exported() -> dict[str, set[str]]:
    """Every series name /metrics serves (as Prometheus stores it: counters with
    _total, histograms as _bucket/_sum/_count), with its label names."""
    buckets = dict.fromkeys(set(PROVISION_BUCKETS) | set(WAKE_BUCKETS), 1)
    snapshot = FleetSnapshot(
        groups=[TenantGroup("running", "running", "1", True, True, 1, restarts=1)],
        tenants=[LiveTenant("a", "running", 0, 0.5, 64, cpu_used=0.1, memory_used=1)],
        incidents=[IncidentKindTotals("oom", 1, 0)],
        rollout=RolloutProgress("2", "done", False, {"done": 1}),
        lifecycle=[KindTotals(k, 1, 1, 1.0, buckets) for k in ("routed", "woken", "paused")],
    )
    families: dict[str, set[str]] = {"berth_scrape_duration_seconds": set()}
    for f in build_families(snapshot) + lifecycle_families(snapshot, {"allowed": 1}):
        for s in f.samples:
            families.setdefault(s.name, set()).update(s.labels)
    return families


def targets(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_dashboards_exist_and_are_valid_json() -> None:
    files = sorted(DASHBOARDS.glob("*.json"))
    assert files, "no dashboard JSON in deploy/grafana/dashboards"
    for path in files:
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] and dashboard["title"]
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for panel in dashboard["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}
            assert panel["targets"], f"{path.name}: panel {panel['title']} has no query"


def test_every_query_names_metrics_and_labels_berth_exports() -> None:
    families = exported()
    for path in sorted(DASHBOARDS.glob("*.json")):
        for expr in targets(json.loads(path.read_text())):
            names = METRIC.findall(expr)
            assert names, f"{path.name}: {expr!r} queries no Berth metric"
            for name in names:
                assert name in families, f"{path.name}: {name} is not exported ({expr!r})"
            labels = set().union(*(families[n] for n in names))
            for group in GROUPING.findall(expr):
                for label in filter(None, (x.strip() for x in group.split(","))):
                    assert label in labels, f"{path.name}: no label {label!r} in {expr!r}"
            for name, matchers in MATCHERS.findall(expr):
                for matcher in matchers.split(","):
                    label = re.split(r"[=!~]", matcher.strip(), maxsplit=1)[0]
                    assert label in families[name], f"{path.name}: {name} has no {label!r}"


def test_the_dashboard_covers_what_operators_look_at() -> None:
    exprs = " ".join(targets(json.loads((DASHBOARDS / "berth.json").read_text())))
    for needed in (
        "berth_tenants",  # fleet states
        "berth_rollout_targets",  # rollout progress
        'berth_incidents_total{kind="oom"}',  # OOMs
        "berth_tenant_restarts_total",  # restarts
        "berth_restarts_total",
        "berth_tenant_cpu_limit_cores",  # per-tenant allocation
        "berth_tenant_memory_limit_bytes",
        "berth_tenant_cpu_usage_cores",  # per-tenant measured use
        "berth_tenant_memory_usage_bytes",
        "berth_provision_duration_seconds_bucket",  # provision latency
        "berth_provisions_total",
        "berth_wake_duration_seconds_bucket",  # wake latency
        "berth_gate_requests_total",
    ):
        assert needed in exprs, needed
