"""A plan's pause mode must be one the runtime can do: Swarm has no freezer."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.fixtures.backends import is_swarm
from tests.fixtures.plans import PLAN_LIMITS
from tests.fixtures.stack import Stack

pytestmark = [
    pytest.mark.docker,
    pytest.mark.parametrize("stack", ["docker", "swarm"], indirect=True),
]


async def test_a_freeze_plan_is_refused_where_the_runtime_cannot_freeze(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    name = "p" + uuid.uuid4().hex[:8]
    r = await client.post("/plans", json={"name": name, **PLAN_LIMITS, "pause_mode": "freeze"})
    if not is_swarm(stack):
        # Control: Docker freezes, so the same plan is accepted there.
        assert r.status_code == 201, r.text
        return
    assert r.status_code == 409, r.text
    assert r.json()["field"] == "pause_mode" and "'stop'" in r.json()["detail"]
    assert (await client.get(f"/plans/{name}")).status_code == 404  # nothing half-written

    r = await client.post("/plans", json={"name": name, **PLAN_LIMITS, "pause_mode": "stop"})
    assert r.status_code == 201, r.text
    r = await client.patch(f"/plans/{name}", json={"pause_mode": "freeze", "idle_after": 60})
    assert r.status_code == 409 and r.json()["field"] == "pause_mode", r.text
    plan = (await client.get(f"/plans/{name}")).json()
    assert (plan["pause_mode"], plan["idle_after"]) == ("stop", None)  # unchanged, whole
