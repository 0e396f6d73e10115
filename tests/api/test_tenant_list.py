"""The tenant list's per-page lookups (secret names, last incident) match each tenant."""

import uuid

import httpx
from sqlalchemy import select

from controlplane.models import Incident, Tenant


async def test_list_shows_each_tenants_own_secrets_and_latest_incident(
    client: httpx.AsyncClient, app: object
) -> None:
    prefix = "tl" + uuid.uuid4().hex[:6]
    a, b, c = (f"{prefix}-{x}" for x in "abc")
    secrets = {a: {"ZED": "1", "ALPHA": "2"}, b: {}, c: {"ONLY": "3"}}
    for slug, values in secrets.items():
        r = await client.post("/tenants", json={"slug": slug, "secrets": values})
        assert r.status_code == 202, r.text
    async with app.state.sessionmaker() as s:  # type: ignore[attr-defined]
        ids = dict(
            (await s.execute(select(Tenant.slug, Tenant.id).where(Tenant.slug.in_([a, b])))).all()
        )
        for kind in ("oom", "crash"):  # the second (higher id) is b's latest
            s.add(Incident(tenant_id=ids[b], slug=b, kind=kind, severity="warning"))
        await s.commit()

    page = (await client.get("/tenants", params={"limit": "500"})).json()
    mine = {t["slug"]: t for t in page["items"] if t["slug"].startswith(prefix)}
    assert set(mine) == {a, b, c}
    assert mine[a]["secrets"] == ["ALPHA", "ZED"]
    assert mine[b]["secrets"] == []
    assert mine[c]["secrets"] == ["ONLY"]
    assert mine[a]["last_incident"] is None and mine[c]["last_incident"] is None
    assert mine[b]["last_incident"]["kind"] == "crash"
