"""GET /metrics: Prometheus text, read from PostgreSQL at scrape time, behind metrics:read."""

from __future__ import annotations

import uuid
from typing import Any, get_args

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from starlette.routing import NoMatchFound

from controlplane.incidents.endpoints import Kind
from controlplane.metrics.collector import (
    CONTENT_TYPE,
    DESIRED_STATES,
    INCIDENT_KINDS,
    TENANT_STATES,
    build_families,
)
from controlplane.metrics.endpoints import router as metrics_router
from controlplane.metrics.repository import (
    FleetSnapshot,
    IncidentKindTotals,
    LiveTenant,
    RolloutProgress,
    TenantGroup,
)
from controlplane.models import Incident, Tenant
from controlplane.models.base import utcnow
from controlplane.tenants.schemas import TenantState

Labels = tuple[tuple[str, str], ...]
Samples = dict[str, dict[Labels, float]]

FAMILIES = {
    "berth_tenants": "gauge",
    "berth_tenants_desired": "gauge",
    "berth_blueprint_tenants": "gauge",
    "berth_tenants_provisioned": "gauge",
    "berth_tenants_provision_failed": "gauge",
    "berth_incidents": "counter",
    "berth_incidents_open": "gauge",
    "berth_tenant_restarts": "counter",
    "berth_tenant_up": "gauge",
    "berth_scrape_duration_seconds": "gauge",
}


@pytest.fixture(autouse=True)
def _metrics_route(app: FastAPI) -> None:
    """Mount the router until create_app() includes it (then this does nothing)."""
    try:
        app.url_path_for("metrics")
    except NoMatchFound:
        app.include_router(metrics_router)
        app.openapi_schema = None  # regenerate, so the route-walk auth test sees it



def _parse(text: str) -> tuple[dict[str, str], Samples]:
    types: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return types, samples


async def _scrape(client: httpx.AsyncClient) -> Samples:
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    samples = _parse(r.text)[1]
    # A family with no series (e.g. no live tenant at all) has no samples to parse.
    for name in ("berth_blueprint_tenants", "berth_tenant_restarts_total", "berth_tenant_up"):
        samples.setdefault(name, {})
    return samples


def _delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = tuple(sorted(labels.items()))
    return after[name].get(key, 0.0) - before.get(name, {}).get(key, 0.0)


async def test_metrics_refuses_missing_token(anon: httpx.AsyncClient) -> None:
    r = await anon.get("/metrics")
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"


async def test_metrics_refuses_wrong_token(anon: httpx.AsyncClient) -> None:
    r = await anon.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401


async def test_metrics_is_documented(app: FastAPI) -> None:
    op = app.openapi()["paths"]["/metrics"]["get"]
    assert op["description"].startswith("Fleet metrics in the Prometheus text format")
    assert CONTENT_TYPE in op["responses"]["200"]["content"]


async def test_metrics_exposition(client: httpx.AsyncClient) -> None:
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    types, samples = _parse(r.text)
    assert {name: types.get(name) for name in FAMILIES} == FAMILIES
    # Every known label value is there even when nothing has it.
    assert {dict(k)["state"] for k in samples["berth_tenants"]} >= set(TENANT_STATES)
    assert {dict(k)["desired_state"] for k in samples["berth_tenants_desired"]} >= set(
        DESIRED_STATES
    )
    for name in ("berth_incidents_total", "berth_incidents_open"):
        assert {dict(k)["kind"] for k in samples[name]} >= set(INCIDENT_KINDS)
    assert set(samples["berth_tenants_provision_failed"]) == {
        (("first_provision", "true"),),
        (("first_provision", "false"),),
    }
    assert 0 < samples["berth_scrape_duration_seconds"][()] < 30


async def test_one_scrape_is_one_snapshot(client: httpx.AsyncClient) -> None:
    """The families of one scrape agree with each other (one REPEATABLE READ snapshot)."""
    s = await _scrape(client)
    live = sum(s["berth_tenants"].values())
    assert live == len(s["berth_tenant_up"]) == len(s["berth_tenant_restarts_total"])
    assert live == sum(s["berth_tenants_desired"].values())
    assert live == sum(s["berth_blueprint_tenants"].values())
    serving = (
        s["berth_tenants"][(("state", "running"),)] + s["berth_tenants"][(("state", "upgrading"),)]
    )
    assert serving == sum(s["berth_tenant_up"].values())
    assert s["berth_tenants"][(("state", "failed"),)] == sum(
        s["berth_tenants_provision_failed"].values()
    )


async def _signup(client: httpx.AsyncClient, slug: str) -> None:
    r = await client.post("/tenants", json={"slug": slug})
    assert r.status_code == 202, r.text


async def _set(app: Any, slug: str, **values: Any) -> None:
    async with app.state.sessionmaker() as s:
        await s.execute(
            update(Tenant).where(Tenant.slug == slug, Tenant.deleted_at.is_(None)).values(**values)
        )
        await s.commit()


async def test_metrics_follow_the_database(
    client: httpx.AsyncClient, app: Any, quiet: None
) -> None:
    prefix = "m" + uuid.uuid4().hex[:8]
    pending, running, failed_new, failed_old, degraded, gone = (
        f"{prefix}-{name}" for name in ("pend", "run", "fnew", "fold", "degr", "gone")
    )
    mine = [pending, running, failed_new, failed_old, degraded, gone]
    before = await _scrape(client)
    for slug in mine:
        await _signup(client, slug)
    try:
        # What the provisioner and the watcher would have written.
        await _set(app, running, state="running", observed_generation=1, restart_count=2)
        await _set(app, failed_new, state="failed")
        await _set(app, failed_old, state="failed", observed_generation=1, restart_count=5)
        await _set(app, degraded, state="degraded", observed_generation=1, restart_count=9)
        async with app.state.sessionmaker() as s:
            tenants = {
                t.slug: t
                for t in (await s.execute(Tenant.__table__.select())).mappings()
                if t["slug"] in mine and t["deleted_at"] is None
            }
            version = tenants[running]["blueprint_version"]

            def incident(slug: str, kind: str, occurrences: int, resolved: bool) -> Incident:
                return Incident(
                    tenant_id=tenants[slug]["id"],
                    slug=slug,
                    kind=kind,
                    occurrences=occurrences,
                    resolved_at=utcnow() if resolved else None,
                )

            s.add_all(
                [
                    incident(running, "crash", 3, resolved=False),
                    incident(running, "oom", 1, resolved=True),
                    incident(degraded, "crashloop", 1, resolved=False),
                    # Open, but its tenant is deleted below: counted, not open.
                    incident(gone, "unhealthy", 2, resolved=False),
                ]
            )
            await s.commit()
        await _set(app, gone, state="deleted", observed_generation=1, deleted_at=utcnow())

        after = await _scrape(client)
    finally:
        # Deleted, so no reconciler started after this test acts on these rows.
        for slug in mine:
            await _set(app, slug, state="deleted", deleted_at=utcnow())

    def delta(name: str, **labels: str) -> float:
        return _delta(before, after, name, **labels)

    assert {st: delta("berth_tenants", state=st) for st in TENANT_STATES} == {
        "pending": 1,
        "provisioning": 0,
        "running": 1,
        "upgrading": 0,
        "failed": 2,
        "degraded": 1,
        "deleting": 0,
        "paused": 0,
    }
    assert delta("berth_tenants_desired", desired_state="running") == 5
    assert delta("berth_tenants_desired", desired_state="deleted") == 0
    assert delta("berth_blueprint_tenants", version=version) == 5
    assert delta("berth_tenants_provisioned") == 4  # run, fold, degr and the deleted one
    assert delta("berth_tenants_provision_failed", first_provision="true") == 1
    assert delta("berth_tenants_provision_failed", first_provision="false") == 1
    assert {k: delta("berth_incidents_total", kind=k) for k in INCIDENT_KINDS} == {
        "oom": 1,
        "crash": 3,
        "unhealthy": 2,
        "crashloop": 1,
        "secret_leak": 0,
    }
    assert {k: delta("berth_incidents_open", kind=k) for k in INCIDENT_KINDS} == {
        "oom": 0,
        "crash": 1,
        "unhealthy": 0,
        "crashloop": 1,
        "secret_leak": 0,
    }
    restarts = after["berth_tenant_restarts_total"]
    up = after["berth_tenant_up"]
    assert {slug: restarts.get((("tenant", slug),)) for slug in mine} == {
        pending: 0,
        running: 2,
        failed_new: 0,
        failed_old: 5,
        degraded: 9,
        gone: None,
    }
    assert {slug: up.get((("tenant", slug),)) for slug in mine} == {
        pending: 0,
        running: 1,
        failed_new: 0,
        failed_old: 0,
        degraded: 0,
        gone: None,
    }

    # Deleted tenants leave the per-tenant series; the provisioned count keeps them.
    final = await _scrape(client)
    assert not any(dict(k)["tenant"].startswith(prefix) for k in final["berth_tenant_up"]), (
        "deleted tenants still have series"
    )
    assert _delta(before, final, "berth_tenants_provisioned") == 4


def test_families_from_a_snapshot() -> None:
    """Zero-filled known labels, unknown ones kept, failures split by first provision."""

    def group(state: str, *, live: bool = True, provisioned: bool = False, n: int = 1) -> Any:
        return TenantGroup(state, "running", "v1", live, provisioned, n)

    snapshot = FleetSnapshot(
        groups=[
            group("running", provisioned=True, n=3),
            group("failed", n=2),
            group("failed", provisioned=True),
            group("hibernating"),
            group("deleted", live=False, provisioned=True, n=7),
        ],
        tenants=[
            LiveTenant("a", "running", 4, 0.5, 128),
            LiveTenant("b", "failed", 0, 1.0, 64),
            LiveTenant("c", "upgrading", 1, 0.25, 256),
        ],
        incidents=[IncidentKindTotals("oom", 5, 1), IncidentKindTotals("novel", 1, 1)],
        rollout=RolloutProgress("2", "rolling", True, {"done": 4, "upgrading": 2}),
    )
    families = {f.name: f for f in build_families(snapshot)}
    values = {
        name: {tuple(s.labels.values()): s.value for s in f.samples} for name, f in families.items()
    }
    assert values["berth_tenants"] == {
        ("pending",): 0,
        ("provisioning",): 0,
        ("running",): 3,
        ("upgrading",): 0,
        ("failed",): 3,
        ("degraded",): 0,
        ("deleting",): 0,
        ("paused",): 0,
        ("hibernating",): 1,
    }
    assert values["berth_tenants_desired"] == {("running",): 7, ("paused",): 0, ("deleted",): 0}
    assert values["berth_blueprint_tenants"] == {("v1",): 7}
    assert values["berth_tenants_provisioned"] == {(): 11}
    assert values["berth_tenants_provision_failed"] == {("true",): 2, ("false",): 1}
    assert values["berth_incidents"] == {
        ("oom",): 5,
        ("crash",): 0,
        ("unhealthy",): 0,
        ("crashloop",): 0,
        ("secret_leak",): 0,
        ("novel",): 1,
    }
    assert values["berth_incidents_open"][("oom",)] == 1
    assert values["berth_tenant_restarts"] == {("a",): 4, ("b",): 0, ("c",): 1}
    assert values["berth_tenant_up"] == {("a",): 1, ("b",): 0, ("c",): 1}
    assert values["berth_tenant_cpu_limit_cores"] == {("a",): 0.5, ("b",): 1.0, ("c",): 0.25}
    assert values["berth_tenant_memory_limit_bytes"][("c",)] == 256 * 1024 * 1024
    assert values["berth_rollout_targets"] == {
        ("2", "pending"): 0,
        ("2", "upgrading"): 2,
        ("2", "done"): 4,
        ("2", "failed"): 0,
        ("2", "skipped"): 0,
    }
    assert values["berth_rollout_active"] == {("2",): 1}


def test_known_labels_cover_the_code() -> None:
    assert set(get_args(TenantState)) - {"deleted"} <= set(TENANT_STATES)
    assert set(get_args(Kind)) <= set(INCIDENT_KINDS)
