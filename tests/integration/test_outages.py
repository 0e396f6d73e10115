"""Outages of Berth's own dependencies lose nothing that was acknowledged."""

from __future__ import annotations

import time
from typing import Any

import docker
import httpx
import pytest

from tests.conftest import wait_state, wait_until
from tests.fixtures.backends import BOTH, serves_once
from tests.fixtures.stack import BerthProcess, Stack

pytestmark = [pytest.mark.docker, BOTH]


def _containers(dock: docker.DockerClient, slug: str) -> list[Any]:
    """Any of the tenant's containers, running or not (on Swarm: task containers)."""
    return dock.containers.list(all=True, sparse=True, filters={"label": f"berth.tenant={slug}"})


async def test_postgres_down_gives_503_and_signups_resume(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    beat: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    before = slug + "a"
    assert (await client.post("/tenants", json={"slug": before})).status_code == 202
    stack.postgres.stop()
    try:
        for method, path, body in (
            ("GET", "/tenants", None),
            ("GET", f"/tenants/{before}", None),
            ("POST", "/tenants", {"slug": slug + "b"}),
        ):
            t0 = time.monotonic()
            r = await client.request(method, path, json=body)
            assert r.status_code == 503, (path, r.status_code, r.text)
            assert r.headers["retry-after"] == "5"
            assert r.json()["error"] == "unavailable"
            assert time.monotonic() - t0 < 10, "an outage must not hang requests"
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"] != "ok"
    finally:
        stack.postgres.restart_server()
    # Everything resumes: the acknowledged signup is provisioned, new ones are taken.
    await wait_state(client, before, "running", timeout=90)
    assert (await client.post("/tenants", json={"slug": slug + "c"})).status_code == 202
    await wait_state(client, slug + "c", "running", timeout=60)
    assert serves_once(dock, stack, before)


async def test_redis_restart_mid_provision_and_signup_while_redis_down(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    beat: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    inflight, during = slug + "a", slug + "b"
    r = await client.post("/tenants", json={"slug": inflight, "env": {"SAMPLE_START_DELAY": "3"}})
    assert r.status_code == 202

    async def created() -> bool:
        return bool(_containers(dock, inflight))

    await wait_until(created, what="provisioning under way")
    stack.redis.stop()
    try:
        # The API still acknowledges signups: the row is committed, only the
        # enqueue fails, and the reconciler re-drives it once Redis is back.
        r = await client.post("/tenants", json={"slug": during})
        assert r.status_code == 202, r.text
    finally:
        stack.redis.start()
    await wait_state(client, inflight, "running", timeout=90)
    await wait_state(client, during, "running", timeout=90)
    for s in (inflight, during):
        assert serves_once(dock, stack, s)
