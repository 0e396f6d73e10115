"""Turn a FleetSnapshot into Prometheus metric families and the text exposition."""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Sequence

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from controlplane.metrics.gate import GATE_OUTCOMES
from controlplane.metrics.repository import (
    PROVISION_BUCKETS,
    WAKE_BUCKETS,
    FleetSnapshot,
    KindTotals,
)

# generate_latest's default (underscore-escaped) output is the 0.0.4 text format;
# prometheus_client's CONTENT_TYPE_LATEST has said version=1.0.0 since 0.22.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Emitted even when zero, so dashboards and alerts see a 0 rather than no data.
TENANT_STATES = (
    "pending",
    "provisioning",
    "running",
    "upgrading",
    "failed",
    "degraded",
    "deleting",
    "paused",
)
DESIRED_STATES = ("running", "paused", "deleted")
INCIDENT_KINDS = ("oom", "crash", "unhealthy", "crashloop", "secret_leak")
TARGET_STATES = ("pending", "upgrading", "done", "failed", "skipped")
# A blue/green upgrade keeps the old container serving until the new one is healthy.
UP_STATES = ("running", "upgrading")


def _with_known(counts: Counter[str], known: Sequence[str]) -> list[tuple[str, int]]:
    """Known labels first (0 when absent), then any label the code does not know yet."""
    return [(k, counts[k]) for k in known] + sorted(
        (k, v) for k, v in counts.items() if k not in known
    )


def _histogram(
    name: str, doc: str, totals: KindTotals | None, bounds: Sequence[float]
) -> HistogramMetricFamily:
    buckets = [(_le(b), totals.buckets[b] if totals else 0) for b in bounds]
    buckets.append(("+Inf", totals.timed if totals else 0))
    return HistogramMetricFamily(
        name, doc, buckets=buckets, sum_value=totals.duration_sum if totals else 0.0
    )


def _le(bound: float) -> str:
    return repr(float(bound))


def lifecycle_families(snapshot: FleetSnapshot, gate: dict[str, int] | None = None) -> list[Metric]:
    """Provisions, pauses, wakes and restarts (from tenant_events), and gate requests."""
    by_kind = {k.kind: k for k in snapshot.lifecycle}

    def count(kind: str) -> int:
        return by_kind[kind].count if kind in by_kind else 0

    provisions = CounterMetricFamily(
        "berth_provisions",
        "Provisioning runs that finished (container healthy and routed, or failed).",
        value=count("routed") + count("provision_failed"),
    )
    failures = CounterMetricFamily(
        "berth_provision_failures",
        "Provisioning runs that failed.",
        value=count("provision_failed"),
    )
    provision_seconds = _histogram(
        "berth_provision_duration_seconds",
        "Seconds from provisioning start to the container healthy and routed.",
        by_kind.get("routed"),
        PROVISION_BUCKETS,
    )
    restarts = CounterMetricFamily(
        "berth_restarts",
        "Container restarts Berth has seen, all tenants (deleted ones included).",
        value=sum(g.restarts for g in snapshot.groups),
    )
    pauses = CounterMetricFamily(
        "berth_pauses", "Tenants paused (frozen or stopped).", value=count("paused")
    )
    wakes = CounterMetricFamily(
        "berth_wakes", "Paused tenants woken back to running.", value=count("woken")
    )
    wake_seconds = _histogram(
        "berth_wake_duration_seconds",
        "Seconds from a wake request (gate, resume) to the tenant running again.",
        by_kind.get("woken"),
        WAKE_BUCKETS,
    )
    families: list[Metric] = [
        provisions,
        failures,
        provision_seconds,
        restarts,
        pauses,
        wakes,
        wake_seconds,
    ]
    if gate is not None:
        requests = CounterMetricFamily(
            "berth_gate_requests",
            "Edge gate (ForwardAuth) requests answered by this API process, by outcome.",
            labels=["outcome"],
        )
        for outcome in GATE_OUTCOMES:
            requests.add_metric([outcome], gate.get(outcome, 0))
        families.append(requests)
    return families


def build_families(snapshot: FleetSnapshot) -> list[Metric]:
    """Every family except the scrape duration, from one database snapshot."""
    live = [g for g in snapshot.groups if g.live]

    by_state: Counter[str] = Counter()
    by_desired: Counter[str] = Counter()
    by_version: Counter[str] = Counter()
    failed_by_first: Counter[str] = Counter()
    for g in live:
        by_state[g.state] += g.count
        by_desired[g.desired_state] += g.count
        by_version[g.blueprint_version] += g.count
        if g.state == "failed":
            failed_by_first["false" if g.provisioned else "true"] += g.count

    tenants = GaugeMetricFamily(
        "berth_tenants", "Live tenants by observed state.", labels=["state"]
    )
    for state, n in _with_known(by_state, TENANT_STATES):
        tenants.add_metric([state], n)

    desired = GaugeMetricFamily(
        "berth_tenants_desired", "Live tenants by desired state.", labels=["desired_state"]
    )
    for state, n in _with_known(by_desired, DESIRED_STATES):
        desired.add_metric([state], n)

    blueprints = GaugeMetricFamily(
        "berth_blueprint_tenants", "Live tenants per blueprint version.", labels=["version"]
    )
    for version, n in sorted(by_version.items()):
        blueprints.add_metric([version], n)

    provisioned = GaugeMetricFamily(
        "berth_tenants_provisioned",
        "Tenants, deleted ones included, whose container came up healthy at least once.",
        value=sum(g.count for g in snapshot.groups if g.provisioned),
    )

    provision_failed = GaugeMetricFamily(
        "berth_tenants_provision_failed",
        "Live tenants whose latest provisioning failed; first_provision=true if never up.",
        labels=["first_provision"],
    )
    for first, n in _with_known(failed_by_first, ("true", "false")):
        provision_failed.add_metric([first], n)

    by_kind = {i.kind: i for i in snapshot.incidents}
    kinds = list(INCIDENT_KINDS) + sorted(k for k in by_kind if k not in INCIDENT_KINDS)
    incidents = CounterMetricFamily(
        "berth_incidents", "Incidents by kind, with their collapsed repeats.", labels=["kind"]
    )
    incidents_open = GaugeMetricFamily(
        "berth_incidents_open", "Unresolved incidents of live tenants by kind.", labels=["kind"]
    )
    for kind in kinds:
        totals = by_kind.get(kind)
        incidents.add_metric([kind], totals.occurrences if totals else 0)
        incidents_open.add_metric([kind], totals.open if totals else 0)

    restarts = CounterMetricFamily(
        "berth_tenant_restarts", "Restarts Berth has seen, per live tenant.", labels=["tenant"]
    )
    up = GaugeMetricFamily(
        "berth_tenant_up", "1 if the tenant is serving (running or upgrading).", labels=["tenant"]
    )
    cpu = GaugeMetricFamily(
        "berth_tenant_cpu_limit_cores", "CPU cores allocated, per live tenant.", labels=["tenant"]
    )
    memory = GaugeMetricFamily(
        "berth_tenant_memory_limit_bytes", "Memory allocated, per live tenant.", labels=["tenant"]
    )
    cpu_used = GaugeMetricFamily(
        "berth_tenant_cpu_usage_cores",
        "Measured CPU cores used between the last two samples, per running tenant.",
        labels=["tenant"],
    )
    memory_used = GaugeMetricFamily(
        "berth_tenant_memory_usage_bytes",
        "Measured memory in use (without reclaimable cache), per running tenant.",
        labels=["tenant"],
    )
    for t in snapshot.tenants:
        restarts.add_metric([t.slug], t.restart_count)
        up.add_metric([t.slug], 1 if t.state in UP_STATES else 0)
        cpu.add_metric([t.slug], t.cpu)
        memory.add_metric([t.slug], t.memory_mb * 1024 * 1024)
        if t.cpu_used is not None:
            cpu_used.add_metric([t.slug], t.cpu_used)
        if t.memory_used is not None:
            memory_used.add_metric([t.slug], t.memory_used)

    rollout_targets = GaugeMetricFamily(
        "berth_rollout_targets",
        "Tenants of the newest rollout by target state.",
        labels=["version", "state"],
    )
    rollout_active = GaugeMetricFamily(
        "berth_rollout_active", "1 while a rollout is in progress.", labels=["version"]
    )
    if snapshot.rollout is not None:
        r = snapshot.rollout
        for state, n in _with_known(Counter(r.targets), TARGET_STATES):
            rollout_targets.add_metric([r.version, state], n)
        rollout_active.add_metric([r.version], 1 if r.active else 0)

    return [
        tenants,
        desired,
        blueprints,
        provisioned,
        provision_failed,
        incidents,
        incidents_open,
        restarts,
        up,
        cpu,
        memory,
        cpu_used,
        memory_used,
        rollout_targets,
        rollout_active,
    ]


@functools.lru_cache(maxsize=4096)
def _value(value: float) -> str:
    # Most samples repeat a few values (0, 1, a plan's limits): format each once.
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def exposition(families: Sequence[Metric]) -> bytes:
    """The Prometheus text format (0.0.4) of `families`, as generate_latest writes it
    for these metric types, without its per-sample overhead: at 1,000 tenants a scrape
    holds ~6,000 samples and generate_latest spent most of the scrape formatting them."""
    out: list[str] = []
    for family in families:
        name = family.name + "_total" if family.type == "counter" else family.name
        doc = family.documentation.replace("\\", "\\\\").replace("\n", "\\n")
        out.append(f"# HELP {name} {doc}\n# TYPE {name} {family.type}\n")
        for sample in family.samples:
            value = _value(sample.value)
            if len(sample.labels) == 1:
                ((k, v),) = sample.labels.items()
                out.append(f'{sample.name}{{{k}="{_label_value(v)}"}} {value}\n')
            elif sample.labels:
                labels = ",".join(
                    f'{k}="{_label_value(v)}"' for k, v in sorted(sample.labels.items())
                )
                out.append(f"{sample.name}{{{labels}}} {value}\n")
            else:
                out.append(f"{sample.name} {value}\n")
    return "".join(out).encode()


def render(snapshot: FleetSnapshot, *, started: float, gate: dict[str, int] | None = None) -> bytes:
    """The text exposition of `snapshot`; `started` is the scrape's perf_counter() start."""
    families = build_families(snapshot) + lifecycle_families(snapshot, gate)
    duration = GaugeMetricFamily(
        "berth_scrape_duration_seconds",
        "Time this scrape spent reading the database and building the metrics.",
        value=time.perf_counter() - started,
    )
    return exposition([*families, duration])
