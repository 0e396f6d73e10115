"""Every route needs the scope this table says, and no other scope lets a key in.

ROUTE_SCOPES is the single source of truth for who may call what. A route that
is in the app but not in the table fails the test: a new route must declare
its scope here.
"""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI

from controlplane.security.auth import SCOPES

PUBLIC = None

ROUTE_SCOPES: dict[tuple[str, str], str | None] = {
    # health
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): "read",
    # tenants
    ("POST", "/tenants"): "signup",
    ("GET", "/tenants"): "read",
    ("GET", "/tenants/{slug}"): "read",
    ("PATCH", "/tenants/{slug}"): "admin",
    ("DELETE", "/tenants/{slug}"): "admin",
    ("POST", "/tenants/{slug}/restart"): "admin",
    ("GET", "/tenants/{slug}/secrets"): "read",
    ("PUT", "/tenants/{slug}/secrets/{name}"): "admin",
    ("DELETE", "/tenants/{slug}/secrets/{name}"): "admin",
    # blueprints and rollouts
    ("POST", "/blueprints"): "deploy",
    ("GET", "/blueprints"): "read",
    ("POST", "/blueprints/{version}/deploy"): "deploy",
    ("GET", "/rollouts"): "read",
    ("GET", "/rollouts/{rollout_id}"): "read",
    ("GET", "/rollouts/{rollout_id}/events"): "read",
    ("POST", "/rollouts/{rollout_id}/rollback"): "deploy",
    # plans, incidents, metrics
    ("GET", "/plans"): "read",
    ("GET", "/plans/{name}"): "read",
    ("POST", "/plans"): "admin",
    ("PATCH", "/plans/{name}"): "admin",
    # pause and resume
    ("POST", "/tenants/{slug}/pause"): "admin",
    ("POST", "/tenants/{slug}/resume"): "admin",
    # billing
    ("GET", "/billing/export"): "billing:read",
    ("GET", "/tenants/{slug}/usage"): "billing:read",
    # the edge: Traefik's fallback router calls it without a token; the Traefik API
    # router does not route /edge/ from outside (deploy/traefik). GET /edge/gate is
    # an ASGI middleware outside the route table; tests/integration/test_idle.py.
    ("GET", "/edge/wake/{path}"): PUBLIC,
    ("GET", "/incidents"): "read",
    ("GET", "/metrics"): "metrics:read",
    # keys and the audit log
    ("POST", "/api-keys"): "admin",
    ("GET", "/api-keys"): "admin",
    ("GET", "/api-keys/{key_id}"): "admin",
    ("DELETE", "/api-keys/{key_id}"): "admin",
    ("GET", "/audit"): "admin",
    # the security preflight: posture details an attacker would like, so admin only
    ("GET", "/security/preflight"): "admin",
}

# Path parameters point at things that do not exist, so a request that gets past
# authorization answers 404/422 and never changes anything (no deploy, no delete).
PARAMS = {
    "{slug}": "no-such-tenant",
    "{name}": "NO_SUCH_SECRET",
    "{version}": "no-such-version",
    "{rollout_id}": str(uuid.UUID(int=0)),
    "{key_id}": "0" * 16,
    "{path}": "some/page",
}


def _openapi_routes(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }


def _concrete(path: str) -> str:
    for placeholder, value in PARAMS.items():
        path = path.replace(placeholder, value)
    assert "{" not in path, f"no test value for a parameter of {path}"
    return path


async def _key(client: httpx.AsyncClient, scopes: set[str]) -> str:
    r = await client.post("/api-keys", json={"name": "scope-test", "scopes": sorted(scopes)})
    assert r.status_code == 201, r.text
    token: str = r.json()["key"]
    return token


def test_every_route_declares_its_scope(app: FastAPI) -> None:
    routes = _openapi_routes(app)
    undeclared = routes - ROUTE_SCOPES.keys()
    assert not undeclared, f"routes without a declared scope in ROUTE_SCOPES: {undeclared}"
    stale = ROUTE_SCOPES.keys() - routes
    assert not stale, f"ROUTE_SCOPES lists routes the app does not have: {stale}"
    assert set(ROUTE_SCOPES.values()) - {PUBLIC} <= set(SCOPES)


async def test_signup_cannot_read_tenants(
    client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    assert ROUTE_SCOPES[("POST", "/tenants")] == "signup"
    headers = {"Authorization": f"Bearer {await _key(client, {'signup'})}"}
    for path in ("/tenants", "/tenants/no-such-tenant", "/tenants/no-such-tenant/secrets"):
        r = await anon.get(path, headers=headers)
        assert r.status_code == 403, (path, r.status_code)


async def test_every_route_enforces_its_scope(
    app: FastAPI, client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    non_admin = set(SCOPES) - {"admin"}
    # For each scope: a key holding every other non-admin scope (it must be refused),
    # and a key holding just that scope (it must be let through).
    lacking = {s: await _key(client, non_admin - {s}) for s in SCOPES}
    only = {s: await _key(client, {s}) for s in SCOPES}
    checked = 0
    for (method, template), scope in sorted(ROUTE_SCOPES.items()):
        path = _concrete(template)
        r = await anon.request(method, path)
        if scope is PUBLIC:
            # Public routes answer without a token (the edge ones with a 4xx here,
            # as no request names a tenant host).
            assert r.status_code not in (401, 403), (method, template, r.status_code)
            continue
        assert r.status_code == 401, (method, template, r.status_code)
        assert r.json()["error"] == "unauthorized"

        headers = {"Authorization": f"Bearer {lacking[scope]}"}
        r = await anon.request(method, path, headers=headers)
        assert r.status_code == 403, (method, template, scope, r.status_code, r.text)
        assert r.json()["error"] == "forbidden"
        assert scope in r.json()["detail"]

        headers = {"Authorization": f"Bearer {only[scope]}"}
        r = await anon.request(method, path, headers=headers)
        assert r.status_code not in (401, 403), (method, template, scope, r.status_code, r.text)
        # Nothing in PARAMS exists, so a mutating call can only have failed harmlessly.
        if method != "GET":
            assert r.status_code in (404, 422), (method, template, r.status_code, r.text)

        r = await client.request(method, path)  # the admin token may call everything
        assert r.status_code not in (401, 403), (method, template, r.status_code)
        checked += 1
    assert checked == sum(1 for scope in ROUTE_SCOPES.values() if scope is not PUBLIC)


async def test_admin_scoped_key_may_call_admin_routes(
    client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    token = await _key(client, {"admin"})
    headers = {"Authorization": f"Bearer {token}"}
    for path in ("/api-keys", "/audit", "/tenants", "/metrics", "/plans"):
        r = await anon.get(path, headers=headers)
        assert r.status_code == 200, (path, r.status_code)
