"""Hostile input cannot become Traefik labels, routers or shell, and bodies are capped.

Values that look like router rules, label assignments, newlines or command
substitutions either are refused with a 422 naming the field, or reach the tenant
only as literal environment values: the real container's labels are exactly the
expected set.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import docker
import httpx
import pytest

from tests.conftest import wait_state
from tests.fixtures.backends import BOTH, is_swarm, tenant_services
from tests.fixtures.stack import BerthProcess, Stack
from tests.fixtures.tenants import tenant_container

pytestmark = pytest.mark.docker

RULE = "`) || Host(`evil.example`)"
LABEL = "traefik.http.routers.evil.rule=Host(`evil.example`)"
SHELL = "$(touch /tmp/pwned)`touch /tmp/pwned2`; touch /tmp/pwned3"
HOSTILE_VALUES = {
    "RULE_VALUE": RULE,
    "LABEL_VALUE": LABEL,
    "SHELL_VALUE": SHELL,
    "NEWLINE_VALUE": f"a\n{LABEL}\nb",
    "QUOTED_VALUE": "'\"; echo injected #",
}
HOSTILE_STRINGS = [RULE, LABEL, SHELL, "ok\nevil", "a b", "a`b", "a,b", "$(id)", "a=b", "a;b"]
# Valid but for a trailing newline, which a "$"-anchored re.match would let through.
HOSTILE_STRINGS += ["trail-ok\n", "TRAIL_OK\n"]


def _routers(labels: dict[str, str]) -> set[str]:
    return {k.split(".")[3] for k in labels if k.startswith("traefik.http.routers.")}


@BOTH
async def test_hostile_env_and_secret_values_stay_literal_env(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    secrets = {f"S_{k}": v for k, v in HOSTILE_VALUES.items()}
    r = await client.post(
        "/tenants", json={"slug": slug, "env": HOSTILE_VALUES, "secrets": secrets}
    )
    assert r.status_code == 202, r.text
    await wait_state(client, slug, "running")

    container = tenant_container(dock, slug)
    # On Swarm the engine adds its own task labels (com.docker.swarm.*) to the task's
    # container; nothing else may be there.
    labels = {k: v for k, v in container.labels.items() if not k.startswith("com.docker.swarm.")}
    tenant_id = labels.get("berth.tenant-id", "")
    assert str(uuid.UUID(tenant_id)) == tenant_id
    router = f"berth-{slug}"
    image_labels = dock.images.get("berth-sample:1").labels
    berths = {
        "berth.managed": "true",
        "berth.instance": stack.instance,
        "berth.tenant": slug,
        "berth.tenant-id": tenant_id,
        "berth.blueprint": "1",
        "berth.generation": "1",
        "berth.plan": "standard",
        # The runtime token's public id (never the token): random, so read it back.
        "berth.runtime-token": labels.get("berth.runtime-token", "<missing>"),
        "traefik.enable": "true",
        "traefik.docker.network": stack.settings.tenant_network,
        f"traefik.http.routers.{router}.rule": f"Host(`{slug}.{stack.settings.domain}`)",
        f"traefik.http.routers.{router}.entrypoints": "web",
        f"traefik.http.routers.{router}.service": router,
        f"traefik.http.services.{router}.loadbalancer.server.port": "8080",
    }
    assert labels == {**image_labels, **berths}
    assert re.fullmatch(r"[0-9a-f]{16}", labels["berth.runtime-token"])
    assert _routers(labels) == {router}
    if is_swarm(stack):
        # Traefik's swarm provider reads the service's labels: exactly Berth's too.
        (svc,) = tenant_services(dock, stack, slug)
        assert svc.attrs["Spec"]["Labels"] == {
            **berths,
            "traefik.swarm.network": stack.settings.tenant_network,
            "traefik.swarm.lbswarm": "false",
        }
        assert _routers(svc.attrs["Spec"]["Labels"]) == {router}

    # Each value is one literal env entry, read back byte for byte from inside.
    env_entries = container.attrs["Config"]["Env"]
    code, out = container.exec_run(["cat", "/proc/1/environ"])
    assert code == 0
    inside = out.decode().split("\0")
    for name, value in {**HOSTILE_VALUES, **secrets}.items():
        assert f"{name}={value}" in env_entries
        assert f"{name}={value}" in inside, name

    # Control: the probe sees a file that is there; then, nothing was ever executed.
    code, _ = container.exec_run(["/bin/sh", "-c", "touch /tmp/control && ls /tmp/control"])
    assert code == 0
    for path in ("/tmp/pwned", "/tmp/pwned2", "/tmp/pwned3"):
        code, _ = container.exec_run(["ls", path])
        assert code != 0, f"{path} exists: a value was run as shell"


def _field(r: httpx.Response) -> str:
    assert r.status_code == 422, (r.status_code, r.text)
    field: str = r.json()["field"]
    return field


@pytest.mark.parametrize("value", HOSTILE_STRINGS + ["a" * 40, "admin", "-lead", "UPPER"])
async def test_hostile_slugs_are_refused(client: httpx.AsyncClient, value: str) -> None:
    assert _field(await client.post("/tenants", json={"slug": value})) == "slug"


@pytest.mark.parametrize("name", HOSTILE_STRINGS + ["traefik.enable", "BERTH_TENANT", "1ABC"])
async def test_hostile_env_and_secret_names_are_refused(
    client: httpx.AsyncClient, name: str
) -> None:
    for key in ("env", "secrets"):
        r = await client.post("/tenants", json={"slug": "inj-ok", key: {name: "v"}})
        assert _field(r).startswith(key), (key, name, r.text)


@pytest.fixture
async def existing(client: httpx.AsyncClient, slug: str) -> AsyncIterator[str]:
    """A tenant to PATCH and PUT against (provisioned only if a worker is running)."""
    assert (await client.post("/tenants", json={"slug": slug})).status_code == 202
    yield slug
    await client.delete(f"/tenants/{slug}")


async def test_hostile_names_are_refused_on_update_and_secret_routes(
    client: httpx.AsyncClient, existing: str
) -> None:
    for name in ("traefik.http.routers.x.rule", "A B", "$(id)", "BERTH_X"):
        r = await client.patch(f"/tenants/{existing}", json={"env": {name: "v"}})
        assert _field(r).startswith("env"), name
        r = await client.put(f"/tenants/{existing}/secrets/{name}", json={"value": "v"})
        # The path parameter's pattern, or the service's reserved-prefix rule.
        assert _field(r) in ("path.name", "name"), name


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("version", RULE),
        ("version", "1\ntraefik.enable=false"),
        ("version", "1,2"),
        ("image", "berth-sample:1 && curl evil"),
        ("image", "berth-sample:1\n"),
        ("image", "$(id)"),
        ("user", "10001; id"),
        ("user", "0:0"),
        ("user", "$(id -u)"),
        ("user", "10001\n"),
        ("version", "1.0\n"),
        ("health_path", "/health`id`"),
        ("health_path", "/health?x=$(id)"),
        ("health_path", "/health\nHost: evil"),
        ("health_path", "/health\n"),
        ("default_env", {"traefik.enable": "false"}),
    ],
)
async def test_hostile_blueprint_fields_are_refused(
    client: httpx.AsyncClient, field: str, value: Any
) -> None:
    body = {"version": f"inj-{uuid.uuid4().hex[:8]}", "image": "berth-sample:1", field: value}
    r = await client.post("/blueprints", json=body)
    assert _field(r).split(".")[0] == field, r.text


async def test_plan_and_query_values_cannot_reach_labels(client: httpx.AsyncClient) -> None:
    r = await client.post("/tenants", json={"slug": "inj-plan", "plan": RULE})
    assert r.status_code in (404, 422), r.text  # an unknown plan, never a label
    r = await client.post("/tenants", json={"slug": "inj-bp", "blueprint_version": LABEL})
    assert _field(r) == "blueprint_version"


async def _chunks(total: int, size: int = 8192) -> AsyncIterator[bytes]:
    # A JSON document padded with spaces: valid if it were ever read whole.
    yield b'{"slug": "chunked-one"'
    sent = 0
    while sent < total:
        yield b" " * size
        sent += size
    yield b"}"


async def test_chunked_body_without_length_is_capped(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    cap = stack.settings.max_body_bytes
    r = await client.post(
        "/tenants",
        content=_chunks(cap + 1),
        headers={"content-type": "application/json"},
    )
    assert "content-length" not in r.request.headers
    assert r.request.headers["transfer-encoding"] == "chunked"
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "payload_too_large"
    assert (await client.get("/tenants/chunked-one")).status_code == 404

    # Control: the same chunked request under the cap is read and validated normally.
    r = await client.post(
        "/blueprints",
        content=_blueprint_chunks(cap // 2),
        headers={"content-type": "application/json"},
    )
    assert "content-length" not in r.request.headers
    assert r.status_code == 422 and r.json()["field"] == "image", r.text


async def _blueprint_chunks(total: int) -> AsyncIterator[bytes]:
    yield b'{"version": "chunk-ctl", "image": "NOT A VALID IMAGE"'
    for _ in range(total // 4096):
        yield b" " * 4096
    yield b"}"
