"""Signup provisions one hardened container on the real engine (real worker, PG, Redis)."""

from __future__ import annotations

from typing import Any

import docker
import httpx
import pytest

from tests.conftest import wait_state, wait_until
from tests.fixtures.probes import sh
from tests.fixtures.stack import BerthProcess, Stack

pytestmark = pytest.mark.docker


def _ip(c: Any, network: str) -> str:
    ip: str = c.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
    return ip


async def test_signup_runs_a_hardened_container(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    r = await client.post(
        "/tenants",
        json={
            "slug": slug,
            "env": {"GREETING": "hi"},
            "secrets": {"API_KEY": "k-123"},
            "limits": {"memory_mb": 96, "cpu": 0.25, "pids": 64},
            "blueprint_version": "1",
        },
    )
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/tenants/{slug}"
    assert r.json()["state"] == "pending"
    body = await wait_state(client, slug, "running")
    assert body["container_name"] == f"berth-{slug}"

    c = dock.containers.get(f"berth-{slug}")
    hc, cfg = c.attrs["HostConfig"], c.attrs["Config"]
    # Limits: memory with swap equal to it, CPU, PIDs.
    assert hc["Memory"] == 96 * 1024 * 1024
    assert hc["MemorySwap"] == hc["Memory"]
    assert hc["NanoCpus"] == 250_000_000
    assert hc["PidsLimit"] == 64
    # Read-only root, capped noexec/nosuid /tmp owned by the tenant uid.
    assert hc["ReadonlyRootfs"] is True
    tmpfs = hc["Tmpfs"]["/tmp"].split(",")
    assert {"noexec", "nosuid"} <= set(tmpfs) and any(o.startswith("size=") for o in tmpfs)
    # Capabilities, privileges, user.
    assert hc["CapDrop"] == ["ALL"] and not hc.get("CapAdd")
    assert "no-new-privileges:true" in hc["SecurityOpt"]
    assert hc["Privileged"] is False
    assert cfg["User"] == "10001:10001"
    # Restart policy, no published ports, no host namespaces, no Docker socket.
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 5}
    assert not hc.get("PortBindings") and not c.attrs["NetworkSettings"]["Ports"].get("8080/tcp")
    assert hc["NetworkMode"] == stack.settings.tenant_network
    assert hc["PidMode"] == "" and hc["IpcMode"] == "private" and hc["UsernsMode"] == ""
    assert not hc.get("Devices")
    assert all("docker.sock" not in (m.get("Source") or "") for m in c.attrs["Mounts"])
    # A named per-tenant volume at /data.
    data = [m for m in c.attrs["Mounts"] if m["Destination"] == "/data"]
    assert len(data) == 1 and data[0]["Type"] == "volume"
    # Labels, Traefik included.
    labels = cfg["Labels"]
    assert labels["berth.tenant"] == slug and labels["berth.blueprint"] == "1"
    assert labels["traefik.enable"] == "true"
    assert labels[f"traefik.http.routers.berth-{slug}.rule"] == f"Host(`{slug}.test.localhost`)"
    assert labels[f"traefik.http.services.berth-{slug}.loadbalancer.server.port"] == "8080"
    assert labels["traefik.docker.network"] == stack.settings.tenant_network
    # The tenants network has inter-container traffic disabled.
    net = dock.networks.get(stack.settings.tenant_network)
    assert net.attrs["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    # Env: blueprint defaults + tenant env + secrets + BERTH_TENANT + the container's own
    # runtime token, nothing else of Berth's.
    env = dict(e.split("=", 1) for e in cfg["Env"])
    assert env["GREETING"] == "hi" and env["API_KEY"] == "k-123" and env["BERTH_TENANT"] == slug
    assert env["BERTH_RUNTIME_TOKEN"].startswith("berthrt_")
    assert not {
        k
        for k in env
        if k.startswith("BERTH_")
        and k
        not in (
            "BERTH_TENANT",
            "BERTH_RUNTIME_TOKEN",
            "BERTH_SAMPLE_VERSION",
            "BERTH_SAMPLE_BROKEN",
        )
    }

    # Served: /health fetched from the host names the tenant.
    async with httpx.AsyncClient(timeout=5) as h:
        health = (await h.get(f"http://{_ip(c, stack.settings.tenant_network)}:8080/health")).json()
    assert health == {"status": "ok", "version": "1", "tenant": slug}
    # Inside: non-root, / is read-only, /data is writable.
    assert sh(c, "id -u")[1].strip() == "10001"
    assert sh(c, "touch /x")[0] != 0
    assert sh(c, "echo ok > /data/probe && cat /data/probe") == (0, "ok\n")


async def test_delete_removes_container_and_volume(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    assert (await client.post("/tenants", json={"slug": slug})).status_code == 202
    # A long-poll answers as soon as the worker records the new state.
    r = await client.get(f"/tenants/{slug}", params={"wait_for": "running", "timeout": 40})
    assert r.status_code == 200 and r.json()["state"] == "running"
    c = dock.containers.get(f"berth-{slug}")
    volume = next(m["Name"] for m in c.attrs["Mounts"] if m["Destination"] == "/data")
    r = await client.delete(f"/tenants/{slug}")
    assert r.status_code == 202 and r.json()["state"] == "deleting"

    async def gone() -> bool:
        return (await client.get(f"/tenants/{slug}")).status_code == 404

    await wait_until(gone, what="tenant deleted")
    assert not dock.containers.list(all=True, filters={"label": f"berth.tenant={slug}"})
    assert not dock.volumes.list(filters={"name": volume})
    # The slug is free again.
    assert (await client.post("/tenants", json={"slug": slug})).status_code == 202
    await wait_state(client, slug, "running")
    await client.delete(f"/tenants/{slug}")


async def test_delete_keep_data_keeps_the_volume(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    await client.post("/tenants", json={"slug": slug})
    await wait_state(client, slug, "running")
    c = dock.containers.get(f"berth-{slug}")
    volume = next(m["Name"] for m in c.attrs["Mounts"] if m["Destination"] == "/data")
    await client.delete(f"/tenants/{slug}?keep_data=true")

    async def gone() -> bool:
        return (await client.get(f"/tenants/{slug}")).status_code == 404

    await wait_until(gone, what="tenant deleted")
    assert not dock.containers.list(all=True, filters={"label": f"berth.tenant={slug}"})
    assert dock.volumes.get(volume).name == volume


async def test_patch_recreates_with_new_env_and_limits(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    await client.post("/tenants", json={"slug": slug, "env": {"MODE": "a"}})
    await wait_state(client, slug, "running")
    old_id = dock.containers.get(f"berth-{slug}").id
    r = await client.patch(
        f"/tenants/{slug}", json={"env": {"MODE": "b"}, "limits": {"memory_mb": 200}}
    )
    assert r.status_code == 202, r.text
    assert r.json()["generation"] == 2

    async def recreated() -> Any:
        body = (await client.get(f"/tenants/{slug}")).json()
        return body if body["state"] == "running" and body["generation"] == 2 else None

    await wait_until(recreated, what="recreated tenant running")
    containers = dock.containers.list(all=True, filters={"label": f"berth.tenant={slug}"})
    assert len(containers) == 1
    c = containers[0]
    assert c.id != old_id
    env = dict(e.split("=", 1) for e in c.attrs["Config"]["Env"])
    assert env["MODE"] == "b"
    assert c.attrs["HostConfig"]["Memory"] == 200 * 1024 * 1024
    assert c.attrs["Config"]["Labels"]["berth.generation"] == "2"
    # Limits beyond the plan are refused on PATCH too.
    r = await client.patch(f"/tenants/{slug}", json={"limits": {"memory_mb": 100000}})
    assert r.status_code == 422 and r.json()["field"] == "limits.memory_mb"
