"""API keys: shown once, stored as a hash, revocable, audited, rate-limited on signup."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text, update

from controlplane.models import ApiKey
from controlplane.models.base import utcnow
from controlplane.redis_client import redis_client
from controlplane.security.ratelimit import TokenBucketLimiter

KEY_RE = re.compile(r"^berth_([0-9a-f]{16})_([A-Za-z0-9_-]{43,})$")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def make_key(
    client: httpx.AsyncClient, *scopes: str, name: str = "test key"
) -> tuple[dict[str, Any], str]:
    r = await client.post("/api-keys", json={"name": name, "scopes": list(scopes)})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body, body["key"]


async def test_create_list_get_revoke(client: httpx.AsyncClient, anon: httpx.AsyncClient) -> None:
    r = await client.post("/api-keys", json={"name": "ci reader", "scopes": ["read", "read"]})
    assert r.status_code == 201, r.text
    body = r.json()
    token = body["key"]
    match = KEY_RE.match(token)
    assert match and match.group(1) == body["id"]
    assert len(match.group(2)) >= 43  # token_urlsafe(32): 256 bits
    assert r.headers["location"] == f"/api-keys/{body['id']}"
    assert r.headers["cache-control"] == "no-store"
    assert body["scopes"] == ["read"] and body["name"] == "ci reader"
    assert body["created_by"] == "admin"
    assert body["last_used_at"] is None and body["revoked_at"] is None

    assert (await anon.get("/tenants", headers=bearer(token))).status_code == 200

    listed = (await client.get("/api-keys")).json()
    mine = [k for k in listed if k["id"] == body["id"]]
    assert len(mine) == 1
    assert set(mine[0]) == {
        "id",
        "name",
        "scopes",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    }
    one = await client.get(f"/api-keys/{body['id']}")
    assert one.status_code == 200 and one.json()["name"] == "ci reader"

    r = await client.delete(f"/api-keys/{body['id']}")
    assert r.status_code == 204
    r = await anon.get("/tenants", headers=bearer(token))
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    revoked = (await client.get(f"/api-keys/{body['id']}")).json()
    assert revoked["revoked_at"] is not None
    # Revoking again is a no-op; an unknown key is a 404.
    assert (await client.delete(f"/api-keys/{body['id']}")).status_code == 204
    assert (await client.get(f"/api-keys/{body['id']}")).json() == revoked
    assert (await client.delete(f"/api-keys/{'f' * 16}")).status_code == 404
    assert (await client.delete("/api-keys/not-a-key-id")).status_code == 422


async def test_key_is_shown_once(client: httpx.AsyncClient) -> None:
    body, token = await make_key(client, "read")
    secret = KEY_RE.match(token).group(2)  # type: ignore[union-attr]
    digest = hashlib.sha256(token.encode()).hexdigest()
    for r in (await client.get("/api-keys"), await client.get(f"/api-keys/{body['id']}")):
        assert r.status_code == 200
        assert secret not in r.text and digest not in r.text and '"key"' not in r.text
    audit = await client.get("/audit", params={"target": f"api_key:{body['id']}"})
    assert secret not in audit.text and digest not in audit.text


async def test_only_a_hash_is_stored(client: httpx.AsyncClient, app: FastAPI) -> None:
    body, token = await make_key(client, "deploy", "read", name="hash check")
    secret = KEY_RE.match(token).group(2)  # type: ignore[union-attr]
    async with app.state.sessionmaker() as s:
        row = (
            (await s.execute(text("SELECT * FROM api_keys WHERE id = :id"), {"id": body["id"]}))
            .mappings()
            .one()
        )
        everything = " ".join(
            str(v) for r in (await s.execute(text("SELECT * FROM api_keys"))).all() for v in r
        )
    for column, value in row.items():
        assert token not in str(value), column
        assert secret not in str(value), column
    assert token not in everything and secret not in everything
    assert row["key_hash"] == hashlib.sha256(token.encode()).hexdigest()


async def test_wrong_or_malformed_keys_are_401(
    client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    body, token = await make_key(client, "read")
    forged = f"berth_{body['id']}_{'A' * 43}"
    for bad in (forged, token[:-1], token + "x", f"berth_{'0' * 16}_{'A' * 43}", "berth_x_y"):
        r = await anon.get("/tenants", headers=bearer(bad))
        assert r.status_code == 401, bad
        assert r.headers["www-authenticate"] == "Bearer"
    assert (await anon.get("/tenants", headers=bearer(token))).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "k", "scopes": ["read", "superuser"]}, "scopes"),
        ({"name": "k", "scopes": ["READ"]}, "scopes"),
        ({"name": "k", "scopes": []}, "scopes"),
        ({"name": "k", "scopes": "read"}, "scopes"),
        ({"name": "k"}, "scopes"),
        ({"name": "", "scopes": ["read"]}, "name"),
        ({"name": "x" * 65, "scopes": ["read"]}, "name"),
        ({"name": "a\nb", "scopes": ["read"]}, "name"),
        ({"scopes": ["read"]}, "name"),
        ({"name": "k", "scopes": ["read"], "key": "mine"}, "key"),
    ],
)
async def test_bad_key_requests_name_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    r = await client.post("/api-keys", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid"
    assert r.json()["field"] == field


async def test_managing_keys_requires_admin(
    client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    _, everything_but_admin = await make_key(
        client, "signup", "deploy", "billing:read", "metrics:read", "read"
    )
    h = bearer(everything_but_admin)
    target, _ = await make_key(client, "read")
    assert (await anon.get("/api-keys", headers=h)).status_code == 403
    assert (await anon.get(f"/api-keys/{target['id']}", headers=h)).status_code == 403
    r = await anon.post("/api-keys", json={"name": "x", "scopes": ["admin"]}, headers=h)
    assert r.status_code == 403
    assert (await anon.delete(f"/api-keys/{target['id']}", headers=h)).status_code == 403
    assert (await anon.get("/audit", headers=h)).status_code == 403

    # An admin-scoped key may manage keys; the new key records who made it.
    admin_key, admin_token = await make_key(client, "admin")
    r = await anon.post(
        "/api-keys", json={"name": "made by key", "scopes": ["read"]}, headers=bearer(admin_token)
    )
    assert r.status_code == 201
    assert r.json()["created_by"] == admin_key["id"]


async def test_last_used_at_is_written_at_most_once_a_minute(
    client: httpx.AsyncClient, anon: httpx.AsyncClient, app: FastAPI
) -> None:
    body, token = await make_key(client, "read")

    async def last_used() -> datetime | None:
        value = (await client.get(f"/api-keys/{body['id']}")).json()["last_used_at"]
        return None if value is None else datetime.fromisoformat(value)

    assert await last_used() is None
    assert (await anon.get("/plans", headers=bearer(token))).status_code == 200
    first = await last_used()
    assert first is not None
    for _ in range(3):
        assert (await anon.get("/plans", headers=bearer(token))).status_code == 200
    assert await last_used() == first  # no write per request

    async with app.state.sessionmaker() as s:
        await s.execute(
            update(ApiKey)
            .where(ApiKey.id == body["id"])
            .values(last_used_at=utcnow() - timedelta(minutes=2))
        )
        await s.commit()
    stale = await last_used()
    assert (await anon.get("/plans", headers=bearer(token))).status_code == 200
    fresh = await last_used()
    assert fresh is not None and stale is not None and fresh > stale


async def test_mutations_are_audited_with_the_callers_key_id(
    client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    deployer, deploy_token = await make_key(client, "deploy")
    signer, signup_token = await make_key(client, "signup")
    version = "kt-" + uuid.uuid4().hex[:8]
    rid = uuid.uuid4().hex
    r = await anon.post(
        "/blueprints",
        json={"version": version, "image": "berth-sample:2"},
        headers=bearer(deploy_token) | {"X-Request-Id": rid},
    )
    assert r.status_code == 201, r.text
    slug = "ak" + uuid.uuid4().hex[:8]
    r = await anon.post("/tenants", json={"slug": slug}, headers=bearer(signup_token))
    assert r.status_code == 202, r.text

    page = (await client.get("/audit", params={"target": f"blueprint:{version}"})).json()
    [event] = page["items"]
    assert event["key_id"] == deployer["id"]
    assert event["action"] == "blueprint.register"
    assert event["outcome"] == "ok"
    assert event["request_id"] == rid
    assert event["at"]

    page = (await client.get("/audit", params={"key_id": signer["id"]})).json()
    assert [(e["action"], e["target"]) for e in page["items"]] == [
        ("tenant.signup", f"tenant:{slug}")
    ]

    # Key management itself is audited, with the admin principal's key id.
    page = (
        await client.get(
            "/audit", params={"action": "api_key.create", "target": f"api_key:{deployer['id']}"}
        )
    ).json()
    [event] = page["items"]
    assert event["key_id"] == "admin"
    assert event["detail"] == {"name": "test key", "scopes": ["deploy"]}
    assert (await client.delete(f"/api-keys/{deployer['id']}")).status_code == 204
    page = (await client.get("/audit", params={"target": f"api_key:{deployer['id']}"})).json()
    assert [e["action"] for e in page["items"]] == ["api_key.revoke", "api_key.create"]


async def test_refused_mutations_are_audited_as_denied(
    client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    reader, token = await make_key(client, "read")
    r = await anon.post(
        "/blueprints", json={"version": "x1", "image": "a:1"}, headers=bearer(token)
    )
    assert r.status_code == 403
    assert (await anon.get("/api-keys", headers=bearer(token))).status_code == 403
    page = (await client.get("/audit", params={"key_id": reader["id"]})).json()
    # Only the refused mutation is recorded; reads are not audited.
    assert [(e["action"], e["target"], e["outcome"]) for e in page["items"]] == [
        ("access.denied", "/blueprints", "denied")
    ]
    assert page["items"][0]["detail"] == {"method": "POST", "scope": "deploy"}


async def test_audit_pagination_and_filters(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await make_key(client, "read", name="page")
    first = (await client.get("/audit", params={"limit": 2})).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    ids = [e["id"] for e in first["items"]]
    assert ids == sorted(ids, reverse=True)  # newest first
    second = (
        await client.get("/audit", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert all(e["id"] < ids[-1] for e in second["items"])
    later = (utcnow() + timedelta(hours=1)).isoformat()
    assert (await client.get("/audit", params={"since": later})).json()["items"] == []
    r = await client.get("/audit", params={"cursor": "abc"})
    assert r.status_code == 422 and r.json()["field"] == "cursor"
    r = await client.get("/audit", params={"since": "yesterday"})
    assert r.status_code == 422 and r.json()["field"] == "query.since"


async def test_signup_burst_is_rate_limited_per_key(
    client: httpx.AsyncClient, anon: httpx.AsyncClient, app: FastAPI
) -> None:
    burst = app.state.settings.signup_burst
    _, token = await make_key(client, "signup")
    _, other = await make_key(client, "signup")
    codes: list[int] = []
    limited: httpx.Response | None = None
    # An empty body is a 422, so nothing is created; each attempt still takes a token.
    for _ in range(burst + 10):
        r = await anon.post("/tenants", json={}, headers=bearer(token))
        codes.append(r.status_code)
        if r.status_code == 429:
            limited = r
            break
    assert limited is not None, codes
    assert codes.count(422) >= burst, codes
    assert limited.json()["error"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    # The bucket is per key; admins are not limited.
    assert (await anon.post("/tenants", json={}, headers=bearer(other))).status_code == 422
    assert (await client.post("/tenants", json={})).status_code == 422


async def test_signup_fails_open_when_redis_is_down(
    client: httpx.AsyncClient, anon: httpx.AsyncClient, app: FastAPI
) -> None:
    _, token = await make_key(client, "signup")
    dead = redis_client("redis://127.0.0.1:1/0")  # nothing listens on port 1
    saved = getattr(app.state, "signup_limiter", None)
    app.state.signup_limiter = TokenBucketLimiter(dead, name="signup", rate_per_minute=1, burst=1)
    try:
        for _ in range(3):
            r = await anon.post("/tenants", json={}, headers=bearer(token))
            assert r.status_code == 422, r.text
    finally:
        app.state.signup_limiter = saved
        dead.close()
