"""Tenant lifecycle events (GET /tenants/{slug}/events) and the metrics derived from
them, against a real API server process, real workers, watcher, beat and Docker."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import docker
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from tests.conftest import wait_state, wait_until
from tests.fixtures.backends import BOTH, is_swarm
from tests.fixtures.plans import make_plan
from tests.fixtures.stack import ADMIN_TOKEN, BerthProcess, Stack
from tests.sse import sse_messages

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("rollouts")]

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


class Stream:
    """One open SSE connection to a tenant's events, read in the background."""

    def __init__(self, base: str, slug: str, *, last_id: int | None = None) -> None:
        self.url = f"{base}/tenants/{slug}/events"
        self.headers = AUTH | ({"Last-Event-ID": str(last_id)} if last_id is not None else {})
        self.events: list[dict[str, Any]] = []
        self.ready = asyncio.Event()
        self.status: int | None = None
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(5, read=None), trust_env=False) as h,
            h.stream("GET", self.url, headers=self.headers) as r,
        ):
            self.status = r.status_code
            if r.status_code != 200:
                self.ready.set()
                return
            async for event, data in sse_messages(r):
                if event == "lifecycle":
                    self.events.append(data)
                elif event == "ready":
                    self.ready.set()

    async def __aenter__(self) -> Stream:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.ready.wait(), 10)
        assert self.status == 200
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task

    def kinds(self) -> list[str]:
        return [e["kind"] for e in self.events]

    async def saw(self, *kinds: str, timeout: float = 60) -> list[dict[str, Any]]:
        async def check() -> list[dict[str, Any]] | None:
            return self.events if all(k in self.kinds() for k in kinds) else None

        return await wait_until(check, timeout=timeout, what=f"events {kinds} (got {self.kinds()})")


async def pausable(client: httpx.AsyncClient, stack: Stack) -> dict[str, str]:
    """Signup fields for a tenant that can pause here: the default plan freezes, which
    Swarm has no freezer for, so on Swarm a plan that pauses by stop."""
    return {"plan": await make_plan(client, pause_mode="stop")} if is_swarm(stack) else {}


def in_order(seen: list[str], expected: list[str]) -> bool:
    it = iter(seen)
    return all(k in it for k in expected)


@BOTH
async def test_events_replay_history_then_follow_live(
    client: httpx.AsyncClient, api_server: str, live_worker: BerthProcess, stack: Stack, slug: str
) -> None:
    r = await client.post("/tenants", json={"slug": slug, **await pausable(client, stack)})
    assert r.status_code == 202, r.text
    await wait_state(client, slug, "running")

    # A client arriving after provisioning first gets the history, in order.
    async with Stream(api_server, slug) as late:
        steps = ["signed_up", "creating", "starting", "health_checking", "routed"]
        assert in_order(late.kinds(), steps), late.kinds()
        routed = next(e for e in late.events if e["kind"] == "routed")
        assert routed["slug"] == slug and routed["detail"]["to"] == "running"
        assert 0 < routed["duration_seconds"] < 60

        # Then live transitions, without reconnecting.
        assert (await client.post(f"/tenants/{slug}/pause")).status_code == 202
        await late.saw("pause_requested", "paused")
        assert (await client.post(f"/tenants/{slug}/resume")).status_code == 202
        await late.saw("wake_requested", "woken")
        woken = next(e for e in late.events if e["kind"] == "woken")
        assert woken["detail"]["from"] == "paused" and woken["duration_seconds"] >= 0
        ids = [e["id"] for e in late.events]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)

    # A reconnecting client (Last-Event-ID) gets exactly what came after that id.
    async with Stream(api_server, slug, last_id=routed["id"]) as again:
        assert again.kinds()[:1] == ["pause_requested"]
        assert [e["id"] for e in again.events] == [i for i in ids if i > routed["id"]]


async def test_an_event_committed_late_is_still_delivered(
    client: httpx.AsyncClient, api_server: str, app: Any, live_worker: BerthProcess, slug: str
) -> None:
    """Ids are drawn at insert: a transaction that commits after a newer one must not
    leave its event behind the stream's cursor."""
    r = await client.post("/tenants", json={"slug": slug})
    assert r.status_code == 202, r.text
    insert = text(
        "INSERT INTO tenant_events (tenant_id, slug, kind) "
        "SELECT id, slug, :kind FROM tenants WHERE slug = :slug AND deleted_at IS NULL "
        "RETURNING id"
    )
    async with Stream(api_server, slug) as stream:
        async with app.state.engine.connect() as slow, app.state.engine.connect() as fast:
            slow_tx = await slow.begin()
            early = (await slow.execute(insert, {"kind": "probe_early", "slug": slug})).scalar()
            late = (await fast.execute(insert, {"kind": "probe_late", "slug": slug})).scalar()
            await fast.commit()
            assert early < late
            await stream.saw("probe_late", timeout=10)
            assert "probe_early" not in stream.kinds()
            await slow_tx.commit()
        await stream.saw("probe_early", timeout=10)
        assert stream.kinds().count("probe_early") == stream.kinds().count("probe_late") == 1
    # Leave nothing provisioning behind for the next test's fleet-wide counts.
    await wait_state(client, slug, "running")


async def test_events_need_read_scope_and_a_live_tenant(anon: httpx.AsyncClient) -> None:
    assert (await anon.get("/tenants/nobody/events")).status_code == 401
    r = await anon.get("/tenants/no-such-tenant/events", headers=AUTH)
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def _parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return samples


async def _scrape(client: httpx.AsyncClient) -> Samples:
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    return _parse(r.text)


def _value(s: Samples, name: str, **labels: str) -> float:
    return s.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


@BOTH
async def test_metrics_after_signup_rollout_oom_pause_and_wake(
    client: httpx.AsyncClient,
    anon: httpx.AsyncClient,
    live_worker: BerthProcess,
    watcher: BerthProcess,
    beat: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
) -> None:
    prefix = "lm" + uuid.uuid4().hex[:6]
    a, b = f"{prefix}-a", f"{prefix}-b"
    plan = await pausable(client, stack)
    before = await _scrape(client)

    # signup
    for slug in (a, b):
        body = {"slug": slug, "limits": {"memory_mb": 48}, **plan}
        r = await client.post("/tenants", json=body)
        assert r.status_code == 202, r.text
    for slug in (a, b):
        await wait_state(client, slug, "running")

    # rollout to version 2
    r = await client.post("/blueprints/2/deploy", json={"selector": {"slugs": [a, b]}, "canary": 1})
    assert r.status_code == 202, r.text
    rollout_id = r.json()["id"]

    async def rolled() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(f"/rollouts/{rollout_id}")).json()
        return body if body["state"] not in ("pending", "canary", "rolling") else None

    assert (await wait_until(rolled, timeout=120, what="the rollout"))["state"] == "completed"

    # OOM: PID 1 of the sample image allocates until the OOM killer ends it.
    labels = [f"berth.instance={stack.instance}", f"berth.tenant={a}"]
    (container,) = dock.containers.list(filters={"label": labels})
    container.exec_run(["kill", "-USR1", "1"])

    async def oom_recorded() -> bool:
        r = await client.get("/incidents", params={"tenant": a, "kind": "oom"})
        return bool(r.json()["items"])

    await wait_until(oom_recorded, timeout=30, what="an oom incident")

    # pause b, then wake it through the edge gate (in this API process)
    assert (await client.post(f"/tenants/{b}/pause")).status_code == 202
    await wait_state(client, b, "paused")
    gate = await anon.get("/edge/gate", headers={"X-Forwarded-Host": f"{b}.test.localhost"})
    assert gate.status_code == 200, gate.text
    await wait_state(client, b, "running")
    await wait_state(client, a, "running", timeout=60)

    # the usage sampler (beat) has measured both at least twice since
    async def measured() -> Samples | None:
        s = await _scrape(client)
        cpu = s.get("berth_tenant_cpu_usage_cores", {})
        have = all(((("tenant", t),) in cpu) for t in (a, b))
        mem = all(_value(s, "berth_tenant_memory_usage_bytes", tenant=t) > 0 for t in (a, b))
        return s if have and mem else None

    after = await wait_until(measured, timeout=45, interval=0.5, what="measured usage")

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("berth_provisions_total") == 2
    assert delta("berth_provision_failures_total") == 0
    assert delta("berth_provision_duration_seconds_count") == 2
    assert 0 < delta("berth_provision_duration_seconds_sum") < 120
    assert delta("berth_provision_duration_seconds_bucket", le="+Inf") == 2
    assert delta("berth_incidents_total", kind="oom") == 1
    assert delta("berth_restarts_total") >= 1
    assert _value(after, "berth_tenant_restarts_total", tenant=a) >= 1
    assert delta("berth_pauses_total") == 1
    assert delta("berth_wakes_total") == 1
    assert delta("berth_wake_duration_seconds_count") == 1
    assert 0 <= delta("berth_wake_duration_seconds_sum") < 30
    assert delta("berth_gate_requests_total", outcome="woken") == 1
    assert _value(after, "berth_rollout_targets", version="2", state="done") == 2
    assert _value(after, "berth_rollout_active", version="2") == 0
    for t in (a, b):
        assert _value(after, "berth_tenant_up", tenant=t) == 1
        assert 0 <= _value(after, "berth_tenant_cpu_usage_cores", tenant=t) < 4
        assert 0 < _value(after, "berth_tenant_memory_usage_bytes", tenant=t) <= 48 * 1024 * 1024
    for t in (a, b):
        assert (await client.delete(f"/tenants/{t}")).status_code == 202
