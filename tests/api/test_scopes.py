"""Every route needs the scope this table says, and no other scope lets a key in.

ROUTE_SCOPES is the single source of truth for who may call what. A route that
is in the app but not in the table fails the test: a new route must declare
its scope here.
"""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI

from controlplane.security.auth import RUNTIME_SCOPE, SCOPES
from tests.fixtures.runtime import runtime_token

PUBLIC = None
RUNTIME = RUNTIME_SCOPE  # held by tenant runtime tokens only, never by an API key

ROUTE_SCOPES: dict[tuple[str, str], str | None] = {
    # health
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): "read",
    # tenants
    ("POST", "/tenants"): "signup",
    ("GET", "/tenants"): "read",
    ("GET", "/tenants/{slug}"): "read",
    ("GET", "/tenants/{slug}/events"): "read",
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
    # a tenant container calling back with its own runtime token
    ("GET", "/runtime/self"): RUNTIME,
    ("POST", "/runtime/activity"): RUNTIME,
    # the security preflight: posture details an attacker would like, so admin only
    ("GET", "/security/preflight"): "admin",
}

# The dashboard's routes authenticate with its session cookie (controlplane/dashboard/
# auth.py), not a bearer token: signed out, its pages redirect to the sign-in page and
# the rest answer 401; POSTs also need the session's CSRF token. The scope a route
# needs is that of the key the session was opened with, checked on every request.
DASHBOARD_SCOPES: dict[tuple[str, str], str | None] = {
    ("GET", "/dashboard"): "read",
    ("GET", "/dashboard/login"): PUBLIC,
    ("POST", "/dashboard/login"): PUBLIC,
    ("POST", "/dashboard/logout"): "read",
    ("GET", "/dashboard/tenants/{slug}"): "read",
    ("POST", "/dashboard/tenants/{slug}/pause"): "admin",
    ("POST", "/dashboard/tenants/{slug}/resume"): "admin",
    ("POST", "/dashboard/tenants/{slug}/restart"): "admin",
    ("POST", "/dashboard/rollouts"): "deploy",
    ("GET", "/dashboard/events"): "read",
    ("GET", "/dashboard/tenants/{slug}/events"): "read",
    ("GET", "/dashboard/rollouts/{rollout_id}/events"): "read",
}
DASHBOARD_PAGES = {("GET", "/dashboard"), ("GET", "/dashboard/tenants/{slug}")}

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
    declared = ROUTE_SCOPES.keys() | DASHBOARD_SCOPES.keys()
    assert not ROUTE_SCOPES.keys() & DASHBOARD_SCOPES.keys()
    undeclared = routes - declared
    assert not undeclared, f"routes without a declared scope in ROUTE_SCOPES: {undeclared}"
    stale = declared - routes
    assert not stale, f"ROUTE_SCOPES lists routes the app does not have: {stale}"
    values = set(ROUTE_SCOPES.values()) | set(DASHBOARD_SCOPES.values())
    assert values - {PUBLIC} <= {*SCOPES, RUNTIME}


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
    # No API key can hold `runtime`: the strongest non-admin key lacks it, and only a
    # tenant's runtime token has it.
    lacking[RUNTIME] = await _key(client, non_admin)
    only[RUNTIME] = await runtime_token(app, slug="rt" + uuid.uuid4().hex[:8])
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
        # Nothing in PARAMS exists, so a mutating call can only have failed harmlessly
        # (the runtime routes act on the caller's own tenant only).
        if method != "GET" and scope != RUNTIME:
            assert r.status_code in (404, 422), (method, template, r.status_code, r.text)

        r = await client.request(method, path)
        if scope == RUNTIME:
            # The admin token is no tenant: the runtime routes refuse it too.
            assert r.status_code == 403, (method, template, r.status_code)
        else:  # the admin token may call everything else
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


async def _dashboard_call(
    base: str, method: str, path: str, *, sid: str | None = None, csrf: str | None = None
) -> tuple[int, dict[str, str], str]:
    """One request to the real server; an event stream is closed once its head is read."""
    headers = {}
    if sid is not None:
        headers["Cookie"] = f"berth_session={sid}"
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    body = {"version": "no-such-version"} if path == "/dashboard/rollouts" else None
    async with (
        httpx.AsyncClient(base_url=base, timeout=10, trust_env=False) as h,
        h.stream(method, path, headers=headers, json=body) as r,
    ):
        if r.headers.get("content-type", "").startswith("text/event-stream"):
            return r.status_code, dict(r.headers), ""
        await r.aread()
        return r.status_code, dict(r.headers), r.text


async def test_every_dashboard_route_enforces_its_scope_by_session(
    app: FastAPI, client: httpx.AsyncClient, api_server: str
) -> None:
    from controlplane.security.keys import key_id_of

    sessions = app.state.dashboard_sessions
    non_admin = set(SCOPES) - {"admin"}
    lacking = {s: key_id_of(await _key(client, non_admin - {s})) for s in SCOPES}
    only = {s: key_id_of(await _key(client, {s})) for s in SCOPES}
    checked = 0
    for (method, template), scope in sorted(DASHBOARD_SCOPES.items()):
        path = _concrete(template)
        status, headers, _ = await _dashboard_call(api_server, method, path)
        if scope is PUBLIC:
            assert status not in (401, 403), (method, template, status)
            continue
        if (method, template) in DASHBOARD_PAGES:
            assert status == 303 and headers["location"] == "/dashboard/login", (template, status)
        else:
            assert status == 401, (method, template, status)

        s = await sessions.open(lacking[scope])
        status, _, text = await _dashboard_call(api_server, method, path, sid=s.sid, csrf=s.csrf)
        assert status == 403 and scope in text, (method, template, scope, status, text)

        s = await sessions.open(only[scope])
        if method != "GET":
            # The right scope without the session's CSRF token is refused.
            status, _, text = await _dashboard_call(api_server, method, path, sid=s.sid)
            assert status == 403 and "CSRF" in text, (method, template, status, text)
            status, _, _ = await _dashboard_call(
                api_server, method, path, sid=s.sid, csrf="not-" + s.csrf
            )
            assert status == 403, (method, template, status)
        status, _, text = await _dashboard_call(api_server, method, path, sid=s.sid, csrf=s.csrf)
        assert status not in (401, 403), (method, template, scope, status, text)
        if method != "GET":
            # Nothing in PARAMS exists; signing out is the one harmless success.
            ok = (204,) if template == "/dashboard/logout" else (404, 422)
            assert status in ok, (method, template, status, text)

        s = await sessions.open("admin")  # the admin token's session may call everything
        status, _, _ = await _dashboard_call(api_server, method, path, sid=s.sid, csrf=s.csrf)
        assert status not in (401, 403), (method, template, status)
        checked += 1
    assert checked == sum(1 for scope in DASHBOARD_SCOPES.values() if scope is not PUBLIC)


async def test_a_revoked_key_ends_its_dashboard_sessions(
    app: FastAPI, client: httpx.AsyncClient, api_server: str
) -> None:
    from controlplane.security.keys import key_id_of

    key_id = key_id_of(await _key(client, {"read"}))
    assert key_id is not None
    s = await app.state.dashboard_sessions.open(key_id)
    assert (await _dashboard_call(api_server, "GET", "/dashboard", sid=s.sid))[0] == 200
    assert (await client.delete(f"/api-keys/{key_id}")).status_code in (200, 204)
    status, headers, _ = await _dashboard_call(api_server, "GET", "/dashboard", sid=s.sid)
    assert status == 303 and headers["location"] == "/dashboard/login"


async def test_runtime_token_is_refused_everywhere_else(
    app: FastAPI, client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    mine, other = "rt" + uuid.uuid4().hex[:8], "rt" + uuid.uuid4().hex[:8]
    headers = {"Authorization": f"Bearer {await runtime_token(app, slug=mine)}"}
    await runtime_token(app, slug=other)
    r = await anon.get("/runtime/self", headers=headers)
    assert r.status_code == 200 and r.json()["slug"] == mine, r.text
    # Control: the admin token reads both tenants, so 403 below is the token's scope.
    for slug in (mine, other):
        assert (await client.get(f"/tenants/{slug}")).status_code == 200
    refused = 0
    for (method, template), scope in sorted(ROUTE_SCOPES.items()):
        if scope in (PUBLIC, RUNTIME):
            continue
        path = _concrete(template.replace("{slug}", other))
        r = await anon.request(method, path, headers=headers)
        assert r.status_code == 403, (method, template, r.status_code, r.text)
        refused += 1
        if "{slug}" in template:  # its own tenant's resources are just as closed
            r = await anon.request(
                method, _concrete(template.replace("{slug}", mine)), headers=headers
            )
            assert r.status_code == 403, (method, template, r.status_code, r.text)
    assert refused == sum(1 for s in ROUTE_SCOPES.values() if s not in (PUBLIC, RUNTIME))
    # Nothing changed: both tenants are still there, untouched.
    for slug in (mine, other):
        assert (await client.get(f"/tenants/{slug}")).json()["state"] == "failed"
