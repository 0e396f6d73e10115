"""Rollouts on the real engine: 30 tenants, blue/green, canary halt, rollback, pins, SIGKILL."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from typing import Any

import docker
import httpx
import pytest

from tests.conftest import wait_state, wait_until
from tests.fixtures.stack import BerthProcess, Stack

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("rollouts")]

FLEET = 30


class FleetProber:
    """Every ~300 ms: list the fleet's containers and probe each one's /health.

    A tenant passes a sample when at least one of its containers answers 200. The
    list and the probes are not atomic, so a tenant with no answer is re-listed and
    re-probed once, with a longer wait, before it counts. It is a gap when then no
    container of it is listed, or every one refuses or fails: what a container removed
    before its successor serves looks like. A re-probe that only times out, on a
    container that is there, is CPU starvation of this 2-core host (tenants get 0.1
    CPU, and the engine runs every container's 2 s healthcheck), not a missing
    server: those are counted apart, as `starved`.
    """

    def __init__(self, dock: docker.DockerClient, stack: Stack, slugs: list[str]) -> None:
        self.dock, self.stack, self.slugs = dock, stack, set(slugs)
        self.samples = 0
        self.gaps: list[str] = []
        self.starved: list[str] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _listing(self) -> dict[str, list[str]]:
        net = self.stack.settings.tenant_network
        out: dict[str, list[str]] = {}
        for c in self.dock.api.containers(
            filters={"label": [f"berth.instance={self.stack.instance}"]}
        ):
            slug = c["Labels"].get("berth.tenant")
            ip = ((c["NetworkSettings"]["Networks"].get(net)) or {}).get("IPAddress")
            if slug in self.slugs and ip:
                out.setdefault(slug, []).append(ip)
        return out

    async def _probe(self, h: httpx.AsyncClient, ips: list[str]) -> str:
        """ "ok" if one container answers 200, "slow" if none did but one only timed
        out, else "down" (none listed, refused, failed or not 200)."""

        async def one(ip: str) -> str:
            try:
                ok = (await h.get(f"http://{ip}:8080/health")).status_code == 200
            except httpx.TimeoutException:
                return "slow"
            except httpx.HTTPError:
                return "down"
            return "ok" if ok else "down"

        found = await asyncio.gather(*(one(ip) for ip in ips))
        return "ok" if "ok" in found else "slow" if "slow" in found else "down"

    async def _run(self) -> None:
        async with (
            httpx.AsyncClient(timeout=1.0) as h,
            httpx.AsyncClient(timeout=10.0) as patient,
        ):
            while not self._stop.is_set():
                listing = await asyncio.to_thread(self._listing)
                results = await asyncio.gather(
                    *(self._probe(h, listing.get(s, [])) for s in sorted(self.slugs))
                )
                missing = [s for s, r in zip(sorted(self.slugs), results, strict=True) if r != "ok"]
                if missing:
                    again = await asyncio.to_thread(self._listing)
                    for slug in missing:
                        verdict = await self._probe(patient, again.get(slug, []))
                        if verdict == "down":
                            self.gaps.append(slug)
                        elif verdict == "slow":
                            self.starved.append(slug)
                self.samples += 1
                try:
                    await asyncio.wait_for(self._stop.wait(), timeout=0.3)
                except TimeoutError:
                    pass

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task


@pytest.fixture(autouse=True)
def _worker_runs(live_worker: BerthProcess) -> None:
    """Each test starts with a live worker: tests of other modules on this process may
    have killed it between two of these (the module's fleet outlives them)."""


@pytest.fixture(scope="module")
async def fleet(client: httpx.AsyncClient, worker: BerthProcess) -> AsyncIterator[list[str]]:
    if not worker.alive:
        worker.start()
    prefix = "f" + uuid.uuid4().hex[:6]
    slugs = [f"{prefix}-{i:02d}" for i in range(FLEET)]
    for slug in slugs:
        r = await client.post(
            "/tenants",
            json={"slug": slug, "blueprint_version": "1", "limits": {"memory_mb": 32, "cpu": 0.1}},
        )
        assert r.status_code == 202, r.text
    for slug in slugs:
        await wait_state(client, slug, "running", timeout=120)
    yield slugs
    for slug in slugs:
        await client.delete(f"/tenants/{slug}")


async def _deploy(client: httpx.AsyncClient, version: str, **body: Any) -> dict[str, Any]:
    r = await client.post(f"/blueprints/{version}/deploy", json=body)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/rollouts/{r.json()['id']}"
    out: dict[str, Any] = r.json()
    return out


async def _finished(
    client: httpx.AsyncClient, rollout_id: str, timeout: float = 180
) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(f"/rollouts/{rollout_id}")).json()
        return body if body["state"] in ("completed", "halted") else None

    return await wait_until(done, timeout=timeout, interval=0.25, what=f"rollout {rollout_id}")


def _ids(dock: docker.DockerClient, stack: Stack, slugs: set[str]) -> dict[str, str]:
    # The low-level list (one call, no per-container inspect): other tenants of this
    # stack may be being removed meanwhile, and an inspect of those would 404.
    out: dict[str, str] = {}
    for c in dock.api.containers(filters={"label": [f"berth.instance={stack.instance}"]}):
        if c["Labels"].get("berth.tenant") in slugs:
            out[c["Labels"]["berth.tenant"]] = c["Id"]
    return out


def _versions(dock: docker.DockerClient, stack: Stack, slugs: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {s: [] for s in slugs}
    for c in dock.api.containers(all=True, filters={"label": [f"berth.instance={stack.instance}"]}):
        slug = c["Labels"].get("berth.tenant")
        if slug in out:
            out[slug].append(c["Labels"]["berth.blueprint"])
    return out


async def _current(client: httpx.AsyncClient) -> str:
    blueprints = (await client.get("/blueprints")).json()
    version: str = next(b["version"] for b in blueprints if b["is_current"])
    return version


async def _roll_back(client: httpx.AsyncClient, rollout_id: str) -> dict[str, Any]:
    r = await client.post(f"/rollouts/{rollout_id}/rollback")
    assert r.status_code == 202, r.text
    return await _finished(client, r.json()["id"])


# Each test starts and ends with the whole fleet on version 1 (and 1 current), so
# the tests stand alone in any order, even if the module fixture is rebuilt.


async def test_deploy_upgrades_every_tenant_with_no_gap_and_skips_pinned(
    client: httpx.AsyncClient,
    fleet: list[str],
    stack: Stack,
    dock: docker.DockerClient,
) -> None:
    pinned = fleet[-1]
    r = await client.patch(f"/tenants/{pinned}", json={"pinned_version": "1"})
    assert r.status_code == 202 and r.json()["pinned_version"] == "1"
    prober = FleetProber(dock, stack, fleet)
    prober.start()
    rollout = await _deploy(client, "2", max_parallel=10, canary=3, selector={"slugs": fleet})
    assert rollout["canary_count"] == 3
    second = await client.post("/blueprints/2/deploy", json={"selector": {"slugs": fleet}})
    assert second.status_code == 409 and rollout["id"] in second.json()["detail"]
    body = await _finished(client, rollout["id"])
    await prober.stop()

    assert body["state"] == "completed", body
    assert body["counts"] == {
        "pending": 0,
        "upgrading": 0,
        "done": FLEET - 1,
        "failed": 0,
        "skipped": 1,
    }
    skipped = [t for t in body["targets"] if t["state"] == "skipped"]
    assert skipped[0]["slug"] == pinned and skipped[0]["reason"] == "pinned to 1"
    versions = _versions(dock, stack, fleet)
    assert all(versions[s] == ["2"] for s in fleet[:-1]), versions
    assert versions[pinned] == ["1"]
    assert prober.samples >= 10 and prober.gaps == [], (prober.samples, prober.gaps)
    # Starved probes happen only on an overloaded host; most samples must be clean.
    assert len(prober.starved) < prober.samples * len(fleet) // 10, prober.starved
    assert await _current(client) == "2", "new signups get the new version"
    tenant = (await client.get(f"/tenants/{fleet[0]}")).json()
    assert tenant["blueprint_version"] == "2" and tenant["state"] == "running"

    await _roll_back(client, rollout["id"])
    await client.patch(f"/tenants/{pinned}", json={"pinned_version": None})
    assert await _current(client) == "1"


async def test_broken_version_halts_after_the_canary_and_everyone_keeps_serving(
    client: httpx.AsyncClient,
    fleet: list[str],
    stack: Stack,
    dock: docker.DockerClient,
) -> None:
    before = _versions(dock, stack, fleet)
    assert all(v == ["1"] for v in before.values()), before
    rollout = await _deploy(client, "3", canary=2, selector={"slugs": fleet})
    body = await _finished(client, rollout["id"])
    assert body["state"] == "halted"
    assert "canary failed" in body["reason"] and "did not answer 200" in body["reason"]
    assert body["counts"]["failed"] == 2 and body["counts"]["done"] == 0
    assert body["counts"]["pending"] == FLEET - 2, "nothing past the canary was touched"
    assert _versions(dock, stack, fleet) == before
    for t in (t for t in body["targets"] if t["wave"] == "canary"):
        assert "did not answer 200" in t["reason"]
        tenant = (await client.get(f"/tenants/{t['slug']}")).json()
        assert tenant["blueprint_version"] == "1" and tenant["state"] == "running"
        assert tenant["state_reason"].startswith("upgrade to 3 failed")
    assert await _current(client) == "1", "a failed canary must not promote the version"


async def test_rollback_returns_upgraded_tenants_to_their_previous_version(
    client: httpx.AsyncClient,
    fleet: list[str],
    stack: Stack,
    dock: docker.DockerClient,
) -> None:
    some = fleet[:5]
    rollout = await _deploy(client, "2", canary=1, selector={"slugs": some})
    assert (await _finished(client, rollout["id"]))["state"] == "completed"
    assert all(v == ["2"] for v in _versions(dock, stack, some).values())
    body = await _roll_back(client, rollout["id"])
    assert body["state"] == "completed" and body["kind"] == "rollback"
    assert body["counts"]["done"] == len(some)
    assert all(v == ["1"] for v in _versions(dock, stack, fleet).values())
    assert await _current(client) == "1"


async def test_sigkilled_worker_mid_rollout_still_completes_with_one_container_each(
    client: httpx.AsyncClient,
    fleet: list[str],
    stack: Stack,
    dock: docker.DockerClient,
    worker: BerthProcess,
    beat: BerthProcess,
) -> None:
    rollout = await _deploy(client, "2", max_parallel=2, canary=1, selector={"slugs": fleet})

    seen: dict[str, Any] = {}

    async def some_done() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(f"/rollouts/{rollout['id']}")).json()
        seen.update(state=body["state"], counts=body["counts"], reason=body.get("reason"))
        return body if body["counts"]["done"] >= 4 else None

    try:
        mid = await wait_until(some_done, timeout=120, what="part of the rollout done")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the rollout was last {seen}") from None
    worker.kill(signal.SIGKILL)
    done_before = {t["slug"] for t in mid["targets"] if t["state"] == "done"}
    ids_before = _ids(dock, stack, done_before)
    worker.start()
    body = await _finished(client, rollout["id"], timeout=240)
    assert body["state"] == "completed", body
    assert body["counts"]["done"] == FLEET
    versions = _versions(dock, stack, fleet)
    assert all(v == ["2"] for v in versions.values()), versions
    ids_after = _ids(dock, stack, done_before)
    # Tenants finished before the kill were not upgraded a second time.
    assert {s: ids_after.get(s) for s in ids_before} == ids_before
    await _roll_back(client, rollout["id"])
