import httpx


async def test_readyz_reports_each_dependency(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "ok", "docker": "ok"},
    }
