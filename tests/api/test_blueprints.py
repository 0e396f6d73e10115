import httpx
import pytest


async def test_register_and_list(client: httpx.AsyncClient) -> None:
    r = await client.post("/blueprints", json={"version": "9.1-test", "image": "berth-sample:2"})
    assert r.status_code == 201, r.text
    assert r.headers["location"] == "/blueprints/9.1-test"
    body = r.json()
    assert body["is_current"] is False and body["health_path"] == "/health"
    versions = [b["version"] for b in (await client.get("/blueprints")).json()]
    assert "9.1-test" in versions and "1" in versions
    dup = await client.post("/blueprints", json={"version": "9.1-test", "image": "x:1"})
    assert dup.status_code == 409 and dup.json()["field"] == "version"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"version": "x y", "image": "a:1"}, "version"),
        ({"version": "v", "image": "UPPER:1"}, "image"),
        ({"version": "v", "image": "a:1", "port": 0}, "port"),
        ({"version": "v", "image": "a:1", "health_path": "health"}, "health_path"),
        ({"version": "v", "image": "a:1", "user": "0:0"}, "user"),
        ({"version": "v", "image": "a:1", "user": "root"}, "user"),
    ],
)
async def test_bad_blueprints_are_refused(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    r = await client.post("/blueprints", json=body)
    assert r.status_code == 422
    assert r.json()["field"] == field


async def test_plans_are_seeded(client: httpx.AsyncClient) -> None:
    names = {p["name"] for p in (await client.get("/plans")).json()}
    assert {"free", "standard", "pro"} <= names
