"""Signup races: the database's unique index decides, and the loser gets a 409."""

import asyncio
import uuid

import httpx
from sqlalchemy import func, select

from controlplane.models import Tenant


async def test_twenty_concurrent_signups_for_one_slug(
    client: httpx.AsyncClient, app: object
) -> None:
    slug = "race-" + uuid.uuid4().hex[:8]
    responses = await asyncio.gather(
        *(client.post("/tenants", json={"slug": slug}) for _ in range(20))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [202] + [409] * 19, codes
    for r in responses:
        if r.status_code == 409:
            assert r.json()["error"] == "conflict" and r.json()["field"] == "slug"
    async with app.state.sessionmaker() as s:  # type: ignore[attr-defined]
        count = (
            await s.execute(select(func.count()).select_from(Tenant).where(Tenant.slug == slug))
        ).scalar_one()
    assert count == 1


async def test_pagination_walks_every_tenant_once(client: httpx.AsyncClient) -> None:
    prefix = "pg" + uuid.uuid4().hex[:6]
    made = {f"{prefix}-{i}" for i in range(7)}
    for slug in sorted(made):
        assert (await client.post("/tenants", json={"slug": slug})).status_code == 202
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/tenants", params=params)).json()
        seen += [t["slug"] for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert made <= set(seen)
    assert len(seen) == len(set(seen))
