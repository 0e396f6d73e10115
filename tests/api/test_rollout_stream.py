"""The rollout SSE stream on a rollout with no targets (a deploy to an empty selection)."""

from __future__ import annotations

import httpx

from tests.fixtures.plans import make_plan
from tests.fixtures.stack import BerthProcess
from tests.sse import sse_messages


async def test_a_deploy_selecting_no_tenant_streams_to_its_end(
    client: httpx.AsyncClient, live_worker: BerthProcess
) -> None:
    plan = await make_plan(client)
    r = await client.post("/blueprints/2/deploy", json={"selector": {"plan": plan}})
    assert r.status_code == 202, r.text
    rollout_id = r.json()["id"]

    seen: list[tuple[str, object]] = []
    async with client.stream("GET", f"/rollouts/{rollout_id}/events") as response:
        assert response.status_code == 200
        async for event, data in sse_messages(response):
            seen.append((event, data))
    # The stream ended by itself: a snapshot with no targets, then the final state.
    assert seen[0][0] == "snapshot" and seen[0][1]["targets"] == []  # type: ignore[index]
    last_event, last = seen[-1]
    assert last_event == "rollout" and last["state"] == "completed", seen  # type: ignore[index]
    assert last["counts"] == {  # type: ignore[index]
        "pending": 0,
        "upgrading": 0,
        "done": 0,
        "failed": 0,
        "skipped": 0,
    }
