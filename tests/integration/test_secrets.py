"""A secret's value never appears in API output, logs, or a plain dump of the database."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import docker
import httpx
import pgserver
import pytest

from tests.conftest import wait_state, wait_until
from tests.fixtures.stack import BerthProcess, Stack

pytestmark = pytest.mark.docker


def _env(dock: docker.DockerClient, slug: str) -> str:
    # By label: after a blue/green recreate the container may be berth-<slug>-b.
    (c,) = dock.containers.list(filters={"label": f"berth.tenant={slug}"})
    return "\n".join(c.attrs["Config"]["Env"])


def _pg_dump(stack: Stack) -> str:
    pg_dump = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_dump"
    out = subprocess.run(
        [str(pg_dump), "-h", stack.postgres.socket_dir, "-U", "postgres", "--inserts", "berth"],
        check=True,
        capture_output=True,
    )
    return out.stdout.decode(errors="replace")


async def test_secret_values_never_leak(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    capfd: pytest.CaptureFixture[str],
) -> None:
    first, second = "S1-" + uuid.uuid4().hex, "S2-" + uuid.uuid4().hex
    a, b = "sa" + uuid.uuid4().hex[:8], "sb" + uuid.uuid4().hex[:8]
    seen: list[str] = []

    async def call(method: str, url: str, **kw: Any) -> httpx.Response:
        r = await client.request(method, url, **kw)
        seen.append(r.text)
        return r

    assert (
        await call("POST", "/tenants", json={"slug": a, "secrets": {"TOKEN": first}})
    ).status_code == 202
    assert (await call("POST", "/tenants", json={"slug": b})).status_code == 202
    await wait_state(client, a, "running")
    await wait_state(client, b, "running")
    # Positive control: the probe can see the value where it belongs.
    assert first in _env(dock, a)

    r = await call("PUT", f"/tenants/{a}/secrets/OTHER", json={"value": second})
    assert r.status_code == 200 and r.json()["name"] == "OTHER"

    async def rotated() -> bool:
        body = (await call("GET", f"/tenants/{a}")).json()
        return body["state"] == "running" and body["generation"] == 2

    await wait_until(rotated, what="container recreated with the new secret")
    assert second in _env(dock, a)
    listed = (await call("GET", f"/tenants/{a}/secrets")).json()
    assert sorted(s["name"] for s in listed) == ["OTHER", "TOKEN"]
    await call("GET", "/tenants")
    await call("GET", f"/tenants/{a}")

    # The other tenant's container never sees them.
    other_env = _env(dock, b)
    dump = _pg_dump(stack)
    assert "tenant_secrets" in dump  # the dump really covers the secrets table
    await call("DELETE", f"/tenants/{a}")
    await call("DELETE", f"/tenants/{b}")
    logs = stack.logs() + capfd.readouterr().err + capfd.readouterr().out

    for value in (first, second):
        assert all(value not in text for text in seen), "secret in an API response"
        assert value not in logs, "secret in a log"
        assert value not in dump, "secret in the database dump"
        assert value not in other_env, "secret in another tenant's env"
