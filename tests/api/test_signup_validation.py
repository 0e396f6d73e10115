"""Bad input gets a clear 4xx naming the field, and writes nothing."""

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from controlplane.models import AuditEvent, Tenant, TenantSecret


async def _counts(app: Any) -> tuple[int, int, int]:
    async with app.state.sessionmaker() as s:
        return (
            (await s.execute(select(func.count()).select_from(Tenant))).scalar_one(),
            (await s.execute(select(func.count()).select_from(TenantSecret))).scalar_one(),
            (await s.execute(select(func.count()).select_from(AuditEvent))).scalar_one(),
        )


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"slug": "ab"}, 422, "slug"),
        ({"slug": "Acme"}, 422, "slug"),
        ({"slug": "9lives"}, 422, "slug"),
        ({"slug": "admin"}, 422, "slug"),
        ({"slug": "traefik"}, 422, "slug"),
        ({"slug": "a" * 33}, 422, "slug"),
        ({"slug": "ok-slug", "env": {"1BAD": "x"}}, 422, "env"),
        ({"slug": "ok-slug", "env": {"BERTH_ADMIN_TOKEN": "x"}}, 422, "env"),
        ({"slug": "ok-slug", "env": {"A": "x" * 5000}}, 422, "env"),
        ({"slug": "ok-slug", "secrets": {"bad-name": "x"}}, 422, "secrets"),
        ({"slug": "ok-slug", "limits": {"memory_mb": 999999}}, 422, "limits.memory_mb"),
        (
            {"slug": "ok-slug", "plan": "free", "limits": {"memory_mb": 1024}},
            422,
            "limits.memory_mb",
        ),
        ({"slug": "ok-slug", "limits": {"cpu": 8}}, 422, "limits.cpu"),
        ({"slug": "ok-slug", "limits": {"pids": 4}}, 422, "limits.pids"),
        ({"slug": "ok-slug", "limits": {"gpu": 1}}, 422, "limits.gpu"),
        ({"slug": "ok-slug", "plan": "platinum"}, 422, "plan"),
        ({"slug": "ok-slug", "blueprint_version": "99"}, 422, "blueprint_version"),
        ({"slug": "ok-slug", "blueprint_version": "../x"}, 422, "blueprint_version"),
        ({"slug": "ok-slug", "env": {"K": "v"}, "secrets": {"K": "s"}}, 422, "env.K"),
        ({"slug": "ok-slug", "extra": 1}, 422, "extra"),
        ({}, 422, "slug"),
    ],
)
async def test_bad_signup_is_refused_with_field(
    client: httpx.AsyncClient, app: Any, body: dict[str, Any], status: int, field: str
) -> None:
    before = await _counts(app)
    r = await client.post("/tenants", json=body)
    assert r.status_code == status, r.text
    payload = r.json()
    assert payload["error"] == "invalid"
    assert payload["field"] == field
    assert await _counts(app) == before


async def test_oversized_body_is_413(client: httpx.AsyncClient, app: Any) -> None:
    before = await _counts(app)
    big = {"slug": "big-one", "env": {f"K{i}": "x" * 1000 for i in range(90)}}
    r = await client.post("/tenants", json=big)
    assert r.status_code == 413
    assert r.json() == {
        "error": "payload_too_large",
        "detail": "request body exceeds 65536 bytes",
        "field": "body",
    }
    assert await _counts(app) == before


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/tenants", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["error"] == "invalid"


async def test_validation_errors_never_echo_input(client: httpx.AsyncClient) -> None:
    r = await client.post("/tenants", json={"slug": "ok-slug", "secrets": {"bad-name": "SEKRIT"}})
    assert r.status_code == 422
    assert "SEKRIT" not in r.text


async def test_unknown_tenant_is_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/tenants/nobody-here")
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"


async def test_bad_list_parameters(client: httpx.AsyncClient) -> None:
    assert (await client.get("/tenants?limit=0")).json()["field"] == "query.limit"
    assert (await client.get("/tenants?state=weird")).json()["field"] == "query.state"
    r = await client.get("/tenants?cursor=!!!")
    assert r.status_code == 422 and r.json()["field"] == "cursor"
