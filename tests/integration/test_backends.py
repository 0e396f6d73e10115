"""The Foundation flows on both runtimes: Docker, and a single-node Docker Swarm.

Each test runs once per backend (the stack fixture is parametrised: BERTH_RUNTIME is
`docker` or `swarm`). The tenant's process is found by label on the engine either
way; on Swarm it is the task container of the tenant's service.
"""

from __future__ import annotations

import uuid
from typing import Any

import docker
import httpx
import pytest

from tests.conftest import wait_state, wait_until
from tests.fixtures.backends import WAIT, is_swarm, tenant_health, tenant_services
from tests.fixtures.probes import sh
from tests.fixtures.stack import BerthProcess, Stack
from tests.fixtures.tenants import tenant_container, tenant_containers

pytestmark = [
    pytest.mark.docker,
    pytest.mark.parametrize("stack", ["docker", "swarm"], indirect=True),
]


async def _gone(dock: docker.DockerClient, stack: Stack, slug: str) -> bool:
    everything = dock.containers.list(all=True, filters={"label": f"berth.tenant={slug}"})
    return not everything and not tenant_services(dock, stack, slug)


async def test_signup_runs_a_hardened_tenant(
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
    body = await wait_state(client, slug, "running")
    assert body["container_name"] == f"berth-{slug}"

    c = tenant_container(dock, slug)
    hc, cfg = c.attrs["HostConfig"], c.attrs["Config"]
    # Limits, read-only root, no capabilities, non-root user: enforced on both.
    assert hc["Memory"] == 96 * 1024 * 1024
    assert hc["NanoCpus"] == 250_000_000
    assert hc["PidsLimit"] == 64
    assert hc["ReadonlyRootfs"] is True
    assert hc["CapDrop"] == ["ALL"] and not hc.get("CapAdd")
    assert hc["Privileged"] is False and not hc.get("Devices")
    assert cfg["User"] == "10001:10001"
    assert not hc.get("PortBindings")
    assert stack.settings.tenant_network in c.attrs["NetworkSettings"]["Networks"]
    data = [m for m in c.attrs["Mounts"] if m["Destination"] == "/data"]
    assert len(data) == 1 and data[0]["Type"] == "volume"
    assert all("docker.sock" not in (m.get("Source") or "") for m in c.attrs["Mounts"])
    # /tmp is a small tmpfs without exec or setuid, writable by the tenant.
    code, mounts = sh(c, "grep ' /tmp ' /proc/mounts")
    assert code == 0 and "tmpfs" in mounts and "noexec" in mounts and "nosuid" in mounts
    assert sh(c, "touch /tmp/x && echo ok")[1].strip() == "ok"
    # The container's labels: the events watcher and the reconciler find it by them.
    labels = cfg["Labels"]
    assert labels["berth.tenant"] == slug and labels["berth.blueprint"] == "1"
    assert labels["berth.instance"] == stack.instance
    env = dict(e.split("=", 1) for e in cfg["Env"])
    assert env["GREETING"] == "hi" and env["API_KEY"] == "k-123" and env["BERTH_TENANT"] == slug

    net = dock.networks.get(stack.settings.tenant_network)
    assert net.attrs["Labels"]["berth.instance"] == stack.instance
    if is_swarm(stack):
        (svc,) = tenant_services(dock, stack, slug)
        spec = svc.attrs["Spec"]
        assert spec["Name"] == f"berth-{slug}"
        assert spec["Mode"] == {"Replicated": {"Replicas": 1}}
        task = spec["TaskTemplate"]
        assert task["RestartPolicy"]["Condition"] == "any"
        assert task["RestartPolicy"]["MaxAttempts"] == 5
        res = task["Resources"]
        assert res["Limits"] == {
            "NanoCPUs": 250_000_000,
            "MemoryBytes": 96 * 1024 * 1024,
            "Pids": 64,
        }
        assert res["Reservations"]["MemoryBytes"] == 96 * 1024 * 1024
        assert spec["UpdateConfig"]["Order"] == "start-first"
        assert spec["UpdateConfig"]["FailureAction"] == "rollback"
        # Traefik's swarm provider reads service labels.
        slabels = spec["Labels"]
        assert slabels["berth.instance"] == stack.instance
        assert slabels["traefik.enable"] == "true"
        assert slabels["traefik.swarm.network"] == stack.settings.tenant_network
        assert slabels[f"traefik.http.routers.berth-{slug}.rule"] == (
            f"Host(`{slug}.test.localhost`)"
        )
        assert slabels[f"traefik.http.services.berth-{slug}.loadbalancer.server.port"] == "8080"
        assert net.attrs["Driver"] == "overlay" and net.attrs["Attachable"] is True
        assert c.attrs["Config"]["Labels"]["com.docker.swarm.service.id"] == svc.id
    else:
        assert hc["MemorySwap"] == hc["Memory"]
        assert "no-new-privileges:true" in hc["SecurityOpt"]
        assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 5}
        assert net.attrs["Options"]["com.docker.network.bridge.enable_icc"] == "false"
        assert labels["traefik.docker.network"] == stack.settings.tenant_network

    assert await tenant_health(dock, stack, slug) == {
        "status": "ok",
        "version": "1",
        "tenant": slug,
    }
    assert sh(c, "id -u")[1].strip() == "10001"
    assert sh(c, "touch /x")[0] != 0
    assert sh(c, "echo ok > /data/probe && cat /data/probe") == (0, "ok\n")
    await client.delete(f"/tenants/{slug}")


async def test_delete_removes_the_tenant_and_its_volume(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    assert (await client.post("/tenants", json={"slug": slug})).status_code == 202
    await wait_state(client, slug, "running")
    c = tenant_container(dock, slug)
    volume = next(m["Name"] for m in c.attrs["Mounts"] if m["Destination"] == "/data")
    assert sh(c, "echo keep > /data/f")[0] == 0
    r = await client.delete(f"/tenants/{slug}")
    assert r.status_code == 202 and r.json()["state"] == "deleting"

    async def deleted() -> bool:
        return (await client.get(f"/tenants/{slug}")).status_code == 404

    await wait_until(deleted, what="tenant deleted")
    # The volume is removed before the tenant is marked deleted, and it can only go
    # once no container uses it: so everything is gone by now.
    assert await _gone(dock, stack, slug)
    assert not dock.volumes.list(filters={"name": volume})
    assert (await client.post("/tenants", json={"slug": slug})).status_code == 202
    await wait_state(client, slug, "running")
    # The slug is re-used with a fresh volume: the old data is not inherited.
    assert sh(tenant_container(dock, slug), "cat /data/f")[0] != 0
    await client.delete(f"/tenants/{slug}")


async def test_a_blueprint_that_never_gets_healthy_fails_and_leaves_nothing(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    # Version 3 starts but never answers 200 on /health.
    r = await client.post("/tenants", json={"slug": slug, "blueprint_version": "3"})
    assert r.status_code == 202, r.text
    body = await wait_state(client, slug, "failed", timeout=WAIT)
    assert "did not answer 200" in body["state_reason"]
    # No container, and on Swarm no service left to restart it behind Berth's back.
    assert await _gone(dock, stack, slug)


async def test_restart_and_patch_recreate_the_tenant(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    await client.post("/tenants", json={"slug": slug, "env": {"MODE": "a"}})
    await wait_state(client, slug, "running")
    first = tenant_container(dock, slug)
    assert sh(first, "echo kept > /data/f")[0] == 0

    r = await client.post(f"/tenants/{slug}/restart")
    assert r.status_code == 202, r.text

    async def at(generation: int) -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(f"/tenants/{slug}")).json()
        ok = body["state"] == "running" and body["generation"] == generation
        return body if ok and len(tenant_containers(dock, slug)) == 1 else None

    await wait_until(lambda: at(2), timeout=WAIT, what="restarted tenant running")
    second = tenant_container(dock, slug)
    assert second.id != first.id
    assert sh(second, "cat /data/f") == (0, "kept\n"), "same data after a restart"

    r = await client.patch(
        f"/tenants/{slug}", json={"env": {"MODE": "b"}, "limits": {"memory_mb": 200}}
    )
    assert r.status_code == 202 and r.json()["generation"] == 3
    await wait_until(lambda: at(3), timeout=WAIT, what="patched tenant running")
    third = tenant_container(dock, slug)
    assert third.id != second.id
    env = dict(e.split("=", 1) for e in third.attrs["Config"]["Env"])
    assert env["MODE"] == "b"
    assert third.attrs["HostConfig"]["Memory"] == 200 * 1024 * 1024
    assert third.attrs["Config"]["Labels"]["berth.generation"] == "3"
    assert sh(third, "cat /data/f") == (0, "kept\n")
    if is_swarm(stack):
        (svc,) = tenant_services(dock, stack, slug)
        limits = svc.attrs["Spec"]["TaskTemplate"]["Resources"]["Limits"]
        assert limits["MemoryBytes"] == 200 * 1024 * 1024
    await client.delete(f"/tenants/{slug}")


async def test_secrets_reach_only_their_tenant(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
) -> None:
    value = "S-" + uuid.uuid4().hex
    a, b = "sa" + uuid.uuid4().hex[:8], "sb" + uuid.uuid4().hex[:8]
    await client.post("/tenants", json={"slug": a})
    await client.post("/tenants", json={"slug": b})
    await wait_state(client, a, "running")
    await wait_state(client, b, "running")
    r = await client.put(f"/tenants/{a}/secrets/TOKEN", json={"value": value})
    assert r.status_code == 200 and value not in r.text

    async def rotated() -> bool:
        body = (await client.get(f"/tenants/{a}")).json()
        return (
            body["state"] == "running"
            and body["generation"] == 2
            and (len(tenant_containers(dock, a)) == 1)
        )

    await wait_until(rotated, timeout=WAIT, what="tenant recreated with the secret")
    assert f"TOKEN={value}" in tenant_container(dock, a).attrs["Config"]["Env"]
    assert all(value not in e for e in tenant_container(dock, b).attrs["Config"]["Env"])
    assert value not in (await client.get(f"/tenants/{a}")).text
    if is_swarm(stack):
        # The service spec holds the env (as a container's config does on Docker).
        (svc,) = tenant_services(dock, stack, a)
        assert f"TOKEN={value}" in svc.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
    assert value not in stack.logs()
    await client.delete(f"/tenants/{a}")
    await client.delete(f"/tenants/{b}")
