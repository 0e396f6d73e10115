"""Egress modes per plan, proven from inside real tenant containers, and the
sandbox runtime option refused (never downgraded) when the engine lacks it.

There is no internet here. "Outside" is a service reached through the host's
forwarding path, the one internet traffic takes: a plain container publishing a
port on the host's own (non-loopback) address. The host-local listener on that
address is probed too: it is reachable from both modes, which the README states.
Plain containers carry berth.test=egress-<uuid> and are removed by that label.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import httpx
import pytest
from fastapi import FastAPI

from controlplane.models import Blueprint, Plan
from provisioner.runtime.base import RuntimeBackendError
from provisioner.runtime.docker import DockerBackend
from tests.conftest import wait_state
from tests.fixtures.backends import tenant_services
from tests.fixtures.plans import PLAN_LIMITS, plan_body
from tests.fixtures.probes import BLOCKED, http_server, tcp_probe
from tests.fixtures.stack import BerthProcess, Stack
from tests.fixtures.tenants import deleted, tenant_container

pytestmark = pytest.mark.docker

SAMPLE = "berth-sample:1"


def _host_address() -> str:
    """The host's first non-loopback address outside Docker's bridges."""
    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
    for line in out.splitlines():
        parts = line.split()
        ifname, addr = parts[1], parts[3].split("/")[0]
        if ifname == "lo" or ifname.startswith(("docker", "br-", "veth")):
            continue
        return addr
    raise AssertionError(f"no host address found:\n{out}")


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@pytest.fixture
def outside(dock: docker.DockerClient) -> Iterator[tuple[str, int]]:
    """A service beyond the host's forwarding path: (host address, published port)."""
    host = _host_address()
    port = _free_port(host)
    label = {"berth.test": f"egress-{uuid.uuid4().hex[:10]}"}
    try:
        dock.containers.run(SAMPLE, detach=True, labels=label, ports={"8080/tcp": (host, port)})
        yield host, port
    finally:
        for c in dock.containers.list(
            all=True, filters={"label": f"berth.test={label['berth.test']}"}
        ):
            c.remove(force=True)


async def _plan(client: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    name = "p" + uuid.uuid4().hex[:8]
    return await client.post("/plans", json={"name": name, **PLAN_LIMITS, **fields})


def _ip(c: Any) -> str:
    (net,) = c.attrs["NetworkSettings"]["Networks"].values()
    return str(net["IPAddress"])


async def test_egress_open_and_none_from_inside(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    outside: tuple[str, int],
) -> None:
    r = await _plan(client, egress="none")
    assert r.status_code == 201 and r.json()["egress"] == "none", r.text
    none_plan = r.json()["name"]
    sealed, open_ = "en" + uuid.uuid4().hex[:8], "eo" + uuid.uuid4().hex[:8]
    assert (
        await client.post("/tenants", json={"slug": sealed, "plan": none_plan})
    ).status_code == 202
    assert (await client.post("/tenants", json={"slug": open_})).status_code == 202
    await wait_state(client, sealed, "running")
    await wait_state(client, open_, "running")
    cs, co = tenant_container(dock, sealed), tenant_container(dock, open_)

    internal = stack.settings.tenant_network + "-internal"
    assert list(cs.attrs["NetworkSettings"]["Networks"]) == [internal]
    assert dock.networks.get(internal).attrs["Internal"] is True
    assert cs.labels["traefik.docker.network"] == internal
    assert list(co.attrs["NetworkSettings"]["Networks"]) == [stack.settings.tenant_network]

    # The host (where the edge, Traefik, runs on the host network) reaches both.
    async with httpx.AsyncClient(timeout=5) as h:
        for c in (cs, co):
            assert (await h.get(f"http://{_ip(c)}:8080/health")).status_code == 200

    host, port = outside
    # The outside service answers the host itself.
    async with httpx.AsyncClient(timeout=5) as h:
        assert (await h.get(f"http://{host}:{port}/health")).status_code == 200
    with http_server(host) as local_port:
        targets = {"outside": (host, port), "host_local": (host, local_port)}
        # Control: the same probes from an `open` tenant succeed.
        from_open = await asyncio.to_thread(tcp_probe, co, targets)
        from_sealed = await asyncio.to_thread(tcp_probe, cs, targets)
    assert from_open == {"outside": "open", "host_local": "open"}, from_open
    assert from_sealed["outside"] in BLOCKED, from_sealed
    # Documented limit: Docker 20.10 internal networks do not filter the host's INPUT
    # path, so a listener on a host address stays reachable (README, Security).
    assert from_sealed["host_local"] == "open", from_sealed

    # A network of the right name but the wrong kind is refused, never used.
    backend = DockerBackend()
    labels = {"berth.instance": stack.instance}
    backend.ensure_network(internal, labels=labels, internal=True)  # control: the right kind
    with pytest.raises(RuntimeBackendError, match="internal=False"):
        DockerBackend().ensure_network(stack.settings.tenant_network, labels=labels, internal=True)
    await deleted(client, sealed, open_)


@pytest.mark.parametrize("stack", ["swarm"], indirect=True)
async def test_sealed_egress_with_swarms_gateway_probe_is_refused_and_never_half_made(
    app: FastAPI,
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
) -> None:
    """Swarm, probed from the node's host (as in these tests): a task on an internal
    overlay has no docker_gwbridge leg, so it could never pass Berth's health check.
    Refused up front instead of failing every signup after the provision timeout."""
    assert stack.settings.swarm_probe == "gateway"
    r = await _plan(client, egress="none", pause_mode="stop")
    assert r.status_code == 409 and r.json()["field"] == "egress", r.text
    assert "BERTH_SWARM_PROBE=overlay" in r.json()["detail"]
    name = (await _plan(client, pause_mode="stop")).json()["name"]  # control: open egress
    r = await client.patch(f"/plans/{name}", json={"egress": "none"})
    assert r.status_code == 409 and r.json()["field"] == "egress", r.text
    assert (await client.get(f"/plans/{name}")).json()["egress"] == "open"

    # A plan that seals, from before the move to Swarm (written directly): its signup
    # fails at once, naming the fix, and leaves no service behind.
    body = plan_body(egress="none", pause_mode="stop")
    async with app.state.sessionmaker() as session:
        session.add(Plan(**body))
        await session.commit()
    slug = "es" + uuid.uuid4().hex[:8]
    assert (
        await client.post("/tenants", json={"slug": slug, "plan": body["name"]})
    ).status_code == 202
    failed = await wait_state(client, slug, "failed", timeout=30)
    assert "BERTH_SWARM_PROBE=overlay" in failed["state_reason"], failed
    assert not tenant_services(dock, stack, slug)
    assert not dock.containers.list(all=True, filters={"label": f"berth.tenant={slug}"})
    await deleted(client, slug)


async def test_runtime_the_engine_lacks_is_refused_never_downgraded(
    app: FastAPI,
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    dock: docker.DockerClient,
) -> None:
    engine = set(dock.info()["Runtimes"])
    assert "runc" in engine and "runsc" not in engine, engine  # this engine: runc only

    # Plan creation and change.
    r = await _plan(client, runtime="runsc")
    assert r.status_code == 422 and r.json()["field"] == "runtime", r.text
    assert "runsc" in r.json()["detail"]
    r = await _plan(client, runtime="runc")  # control: a runtime the engine has
    assert r.status_code == 201 and r.json()["runtime"] == "runc", r.text
    runc_plan = r.json()["name"]
    r = await client.patch(f"/plans/{runc_plan}", json={"runtime": "runsc"})
    assert r.status_code == 422 and r.json()["field"] == "runtime", r.text
    assert (await client.get(f"/plans/{runc_plan}")).json()["runtime"] == "runc"

    # Blueprint registration.
    bp = {"version": "rt-" + uuid.uuid4().hex[:8], "image": SAMPLE}
    r = await client.post("/blueprints", json={**bp, "runtime": "runsc"})
    assert r.status_code == 422 and r.json()["field"] == "runtime", r.text
    r = await client.post("/blueprints", json={**bp, "runtime": "runc"})
    assert r.status_code == 201 and r.json()["runtime"] == "runc", r.text

    # A plan and a blueprint that asked for runsc when the engine had it (written
    # directly: the API would refuse them now) are refused at signup and plan change.
    gvisor_plan, gvisor_bp = "g" + uuid.uuid4().hex[:8], "g-" + uuid.uuid4().hex[:8]
    async with app.state.sessionmaker() as session:
        session.add(Plan(name=gvisor_plan, runtime="runsc", **PLAN_LIMITS))
        session.add(
            Blueprint(
                version=gvisor_bp,
                image=SAMPLE,
                port=8080,
                health_path="/health",
                user="10001:10001",
                default_env={},
                default_limits={},
                runtime="runsc",
            )
        )
        await session.commit()
    slug = "gv" + uuid.uuid4().hex[:8]
    r = await client.post("/tenants", json={"slug": slug, "plan": gvisor_plan})
    assert r.status_code == 422 and r.json()["field"] == "plan", r.text
    r = await client.post("/tenants", json={"slug": slug, "blueprint_version": gvisor_bp})
    assert r.status_code == 422 and r.json()["field"] == "blueprint_version", r.text
    assert (await client.get(f"/tenants/{slug}")).status_code == 404

    # The explicit runc path: the container really runs with HostConfig.Runtime runc.
    r = await client.post("/tenants", json={"slug": slug, "plan": runc_plan})
    assert r.status_code == 202, r.text
    await wait_state(client, slug, "running")
    c = tenant_container(dock, slug)
    assert c.attrs["HostConfig"]["Runtime"] == "runc"
    r = await client.patch(f"/tenants/{slug}", json={"plan": gvisor_plan})
    assert r.status_code == 422 and r.json()["field"] == "plan", r.text
    body = (await client.get(f"/tenants/{slug}")).json()
    assert body["plan"] == runc_plan and body["generation"] == 1, body

    # The worker never downgrades either: if the plan asks for runsc behind the API's
    # back, the recreate fails naming it and the runc container keeps serving.
    async with app.state.sessionmaker() as session:
        plan = await session.get(Plan, runc_plan)
        assert plan is not None
        plan.runtime = "runsc"
        await session.commit()
    assert (await client.post(f"/tenants/{slug}/restart")).status_code == 202
    failed = await wait_state(client, slug, "failed")
    assert "runsc" in failed["state_reason"], failed
    (serving,) = dock.containers.list(filters={"label": f"berth.tenant={slug}"})
    assert serving.id == c.id and serving.attrs["HostConfig"]["Runtime"] == "runc"
    await deleted(client, slug)
