"""Isolation proven from inside: probes run in real tenant containers.

Tenants are signed up through the API and provisioned by the real worker. Every
probe that must fail in a tenant is first shown to succeed in a control setup (the
same command, from the same or a plain container, against a reachable target), so
a broken probe cannot pass as "isolated": busybox nc has no -z, and busybox wget
crashes on timeouts -- both would "fail" against anything.

Plain control containers and networks carry berth.test=isolation-<uuid> and are
removed by that label, whatever the outcome.

Every test runs on both runtimes. On Swarm the tenants share an overlay network,
which has no `enable_icc=false`: tenants reach each other over it (the documented
difference; see README "Multi-host with Swarm"), while the node's docker_gwbridge,
their way to the host, keeps them apart. Swarm's API 1.41 (Docker 20.10) cannot set
no-new-privileges for services, and a service's /tmp is a tmpfs mount.
"""

from __future__ import annotations

import asyncio
import shlex
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import docker
import httpx
import pytest
from docker.utils import version_lt

from tests.conftest import wait_state, wait_until
from tests.fixtures.backends import BOTH, is_swarm, tenant_address
from tests.fixtures.probes import (
    BLOCKED,
    HealthProber,
    bridge_gateway,
    can_connect,
    http_server,
    kill_marked,
    pids_cgroup,
    pids_limit_hits,
    procs_with_marker,
    rc,
    read_int,
    sh,
    socket_probe,
    system_probe,
    tcp_probe,
)
from tests.fixtures.stack import BerthProcess, Stack
from tests.fixtures.tenants import tenant_container

pytestmark = [pytest.mark.docker, BOTH]

SAMPLE = "berth-sample:1"
NO_CAPS = "0000000000000000"
PIDS = 32  # tenant A's PID limit (the plan minimum is 16)


@dataclass
class Tenants:
    a: str
    b: str


@dataclass
class Plain:
    """Two plain containers (no Berth hardening) on a plain bridge with ICC on."""

    x: Any
    y: Any  # also has a stand-in Unix socket mounted at /var/run/docker.sock


def _container(dock: docker.DockerClient, slug: str) -> Any:
    """The tenant's running container (on Swarm, its service's task container)."""
    return tenant_container(dock, slug)


def _ip(c: Any, network: str) -> str:
    """The container's address on `network` (where tenants would reach each other)."""
    c.reload()
    ip: str = c.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
    return ip


def _host_gateway(dock: docker.DockerClient, stack: Stack) -> str:
    """The host's address on the tenant's own bridge: the tenants network on Docker;
    on Swarm docker_gwbridge (an overlay's gateway is not the host)."""
    name = "docker_gwbridge" if is_swarm(stack) else stack.settings.tenant_network
    return bridge_gateway(dock.networks.get(name))


async def _healthy(c: Any, ip: str, *, timeout: float = 90.0) -> None:
    """Docker's healthcheck passes and /health answers the host."""

    async def check() -> bool:
        c.reload()
        if c.status != "running" or c.attrs["State"]["Health"]["Status"] != "healthy":
            return False
        try:
            async with httpx.AsyncClient(timeout=5) as h:
                return (await h.get(f"http://{ip}:8080/health")).status_code == 200
        except httpx.HTTPError:
            return False

    await wait_until(check, timeout=timeout, interval=0.5, what=f"{c.name} healthy")


@pytest.fixture(scope="module")
async def tenants(client: httpx.AsyncClient, worker: BerthProcess) -> AsyncIterator[Tenants]:
    """Tenants A (small PID limit) and B, signed up through the API."""
    if not worker.alive:
        worker.start()
    base = "t" + uuid.uuid4().hex[:9]
    t = Tenants(a=base + "a", b=base + "b")
    try:
        for slug, limits in ((t.a, {"memory_mb": 48, "pids": PIDS}), (t.b, {"memory_mb": 48})):
            r = await client.post("/tenants", json={"slug": slug, "limits": limits})
            assert r.status_code == 202, r.text
        await wait_state(client, t.a, "running", timeout=90)
        await wait_state(client, t.b, "running", timeout=90)
        yield t
    finally:
        for slug in (t.a, t.b):
            await client.delete(f"/tenants/{slug}")


@pytest.fixture(scope="module")
def plain(dock: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plain]:
    """The control setup: what a tenant must not do, these plain containers can."""
    tag = uuid.uuid4().hex[:10]
    labels = {"berth.test": f"isolation-{tag}"}
    sock_dir = tmp_path_factory.mktemp("isolation-sock")
    stand_in = sock_dir / "docker.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(stand_in))
    try:
        net = dock.networks.create(f"isolation-{tag}", driver="bridge", labels=labels)
        x = dock.containers.run(
            SAMPLE, detach=True, name=f"isolation-{tag}-x", labels=labels, network=net.name
        )
        y = dock.containers.run(
            SAMPLE,
            detach=True,
            name=f"isolation-{tag}-y",
            labels=labels,
            network=net.name,
            volumes={str(stand_in): {"bind": "/var/run/docker.sock", "mode": "ro"}},
        )
        yield Plain(x=x, y=y)
    finally:
        listener.close()
        selector = {"label": f"berth.test=isolation-{tag}"}
        for c in dock.containers.list(all=True, filters=selector):
            c.remove(force=True)
        for n in dock.networks.list(filters=selector):
            n.remove()


async def _plain_ready(c: Any) -> None:
    async def check() -> bool:
        c.reload()
        return c.status == "running" and c.attrs["State"]["Health"]["Status"] == "healthy"

    await wait_until(check, timeout=90, interval=0.5, what=f"{c.name} healthy")


async def test_tenant_cannot_reach_a_neighbour(
    tenants: Tenants,
    plain: Plain,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
) -> None:
    net = stack.settings.tenant_network
    a, b = _container(dock, tenants.a), _container(dock, tenants.b)
    ip_a, ip_b = _ip(a, net), _ip(b, net)
    host_a, host_b = tenant_address(dock, stack, a), tenant_address(dock, stack, b)
    # Control 1: B listens and the host reaches it.
    assert can_connect(host_b, 8080) and can_connect(host_a, 8080)
    # Control 2: the same probe between two plain containers on a plain bridge connects.
    await _plain_ready(plain.y)
    net_y = next(iter(plain.y.attrs["NetworkSettings"]["Networks"]))
    peer = await asyncio.to_thread(tcp_probe, plain.x, {"peer": (_ip(plain.y, net_y), 8080)})
    assert peer == {"peer": "open"}
    # Probe, with control 3 in the same exec: A reaches its own address, not B's (and back).
    from_a = await asyncio.to_thread(
        tcp_probe, a, {"self": (ip_a, 8080), "neighbour": (ip_b, 8080)}
    )
    from_b = await asyncio.to_thread(
        tcp_probe, b, {"self": (ip_b, 8080), "neighbour": (ip_a, 8080)}
    )
    assert from_a["self"] == "open" and from_b["self"] == "open", (from_a, from_b)
    if not is_swarm(stack):
        assert from_a["neighbour"] in BLOCKED, from_a
        assert from_b["neighbour"] in BLOCKED, from_b
        return
    # Swarm: the overlay lets tenants reach each other (documented; an overlay has no
    # ICC switch). Should that change, the README's isolation note must change too.
    assert from_a["neighbour"] == "open" and from_b["neighbour"] == "open", (from_a, from_b)
    # Their other network, docker_gwbridge (the way to the host), keeps ICC off.
    via_gw = await asyncio.to_thread(
        tcp_probe, a, {"self": (host_a, 8080), "neighbour": (host_b, 8080)}
    )
    assert via_gw["self"] == "open" and via_gw["neighbour"] in BLOCKED, via_gw


async def test_tenant_cannot_reach_the_control_plane(
    tenants: Tenants,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
) -> None:
    a = _container(dock, tenants.a)
    tenants_gw = _host_gateway(dock, stack)
    docker0_gw = bridge_gateway(dock.networks.get("bridge"))
    redis_port = stack.redis.port
    # PostgreSQL has no TCP listener at all: it listens on its Unix socket only.
    conn = await asyncpg.connect(
        host=stack.postgres.socket_dir, user="postgres", database="berth", timeout=10
    )
    try:
        assert await conn.fetchval("SHOW listen_addresses") == ""
        port = int(await conn.fetchval("SHOW port"))
    finally:
        await conn.close()
    # Control: Redis does listen (on the host's loopback).
    assert can_connect("127.0.0.1", redis_port)
    with (
        http_server("127.0.0.1") as api_port,
        http_server(tenants_gw) as ctl_tenants_gw,
        http_server(docker0_gw) as ctl_docker0_gw,
    ):
        # Control: the stand-in API answers the host.
        async with httpx.AsyncClient(timeout=5) as h:
            assert (await h.get(f"http://127.0.0.1:{api_port}/")).status_code == 200
        results = await asyncio.to_thread(
            tcp_probe,
            a,
            {
                # Controls: the same probe from A reaches a host listener on either gateway.
                "ctl_tenants_gw": (tenants_gw, ctl_tenants_gw),
                "ctl_docker0_gw": (docker0_gw, ctl_docker0_gw),
                "pg_tenants_gw": (tenants_gw, port),
                "pg_docker0_gw": (docker0_gw, port),
                "redis_tenants_gw": (tenants_gw, redis_port),
                "redis_docker0_gw": (docker0_gw, redis_port),
                "redis_loopback": ("127.0.0.1", redis_port),
                "api_tenants_gw": (tenants_gw, api_port),
                "api_docker0_gw": (docker0_gw, api_port),
                "dockerd_tcp": (tenants_gw, 2375),
                "dockerd_tls": (tenants_gw, 2376),
            },
        )
    assert results.pop("ctl_tenants_gw") == "open", results
    assert results.pop("ctl_docker0_gw") == "open", results
    assert all(r in BLOCKED for r in results.values()), results


async def test_read_only_root_noexec_tmp_non_root_no_capabilities(
    tenants: Tenants,
    plain: Plain,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
) -> None:
    # Controls: in a plain container root writes /, and a copy of busybox runs from /tmp,
    # for root and for the very uid tenants run as; the capability probe reads real bits.
    ctl_root = await asyncio.to_thread(system_probe, plain.y, user="0")
    assert rc(ctl_root["root_write"]) == 0, ctl_root
    assert rc(ctl_root["tmp_copy"]) == 0 and rc(ctl_root["tmp_exec"]) == 0, ctl_root
    assert ctl_root["uid"] == "0" and ctl_root["CapEff"] != NO_CAPS, ctl_root
    ctl_user = await asyncio.to_thread(system_probe, plain.y)
    assert ctl_user["uid"] == "10001", ctl_user
    assert rc(ctl_user["tmp_copy"]) == 0 and rc(ctl_user["tmp_exec"]) == 0, ctl_user

    a = _container(dock, tenants.a)
    got = await asyncio.to_thread(system_probe, a)
    assert rc(got["root_write"]) != 0 and "Read-only file system" in got["root_write"], got
    assert rc(got["tmp_write"]) == 0 and rc(got["tmp_copy"]) == 0, got
    assert rc(got["bin_exec"]) == 0, got  # the same binary runs from /bin ...
    assert rc(got["tmp_exec"]) == 126 and "Permission denied" in got["tmp_exec"], got  # not /tmp
    assert got["uid"] != "0" and got["uid"] == "10001", got
    for cap in ("CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert got[cap] == NO_CAPS, got
    assert got["Seccomp"] == "2", got
    # Swarm sets no-new-privileges for services from API 1.46 on (documented).
    without = is_swarm(stack) and version_lt(dock.version()["ApiVersion"], "1.46")
    assert got["NoNewPrivs"] == ("0" if without else "1"), got

    # Even uid 0 inside a tenant (only an operator's `docker exec -u 0` gets there) has no
    # capability, cannot write / and cannot run anything from /tmp.
    as_root = await asyncio.to_thread(system_probe, a, user="0")
    assert as_root["uid"] == "0", as_root
    assert "Read-only file system" in as_root["root_write"], as_root
    assert rc(as_root["tmp_copy"]) == 0 and rc(as_root["tmp_exec"]) == 126, as_root
    assert as_root["CapEff"] == NO_CAPS and as_root["CapBnd"] == NO_CAPS, as_root


async def test_no_docker_socket(
    tenants: Tenants,
    plain: Plain,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
) -> None:
    # Control: a socket mounted at the Docker socket's path is found by the same probe.
    present, sockets = await asyncio.to_thread(socket_probe, plain.y)
    assert present == ["/var/run/docker.sock"] and "/var/run/docker.sock" in sockets
    a = _container(dock, tenants.a)
    present, sockets = await asyncio.to_thread(socket_probe, a)
    assert present == [] and sockets == [], (present, sockets)
    mounts = a.attrs["Mounts"]
    # A service's /tmp is a tmpfs mount; Docker's is a HostConfig.Tmpfs entry.
    tmp = [m for m in mounts if m["Destination"] == "/tmp"]
    assert all(m["Type"] == "tmpfs" for m in tmp) and len(tmp) == int(is_swarm(stack)), mounts
    assert [m["Destination"] for m in mounts if m not in tmp] == ["/data"], mounts
    env = [e.split("=", 1)[0] for e in a.attrs["Config"]["Env"]]
    assert "DOCKER_HOST" not in env


async def test_fork_bomb_stops_at_the_pid_limit(
    tenants: Tenants,
    live_worker: BerthProcess,
    client: httpx.AsyncClient,
    stack: Stack,
    dock: docker.DockerClient,
) -> None:
    a, b = _container(dock, tenants.a), _container(dock, tenants.b)
    ip_a, ip_b = tenant_address(dock, stack, a), tenant_address(dock, stack, b)
    cgroup = pids_cgroup(a.id)
    if cgroup is None:
        pytest.skip("the container's pids cgroup is not visible from here")
    assert a.attrs["HostConfig"]["PidsLimit"] == PIDS
    assert read_int(cgroup / "pids.max") == PIDS
    pid1, restarts = a.attrs["State"]["Pid"], a.attrs["RestartCount"]
    # Control: before the bomb the tenant runs well below its limit.
    assert read_int(cgroup / "pids.current") < PIDS // 2
    refused_before = pids_limit_hits(cgroup)

    marker = f"isolation-forkbomb-{uuid.uuid4().hex[:8]}"
    a.exec_run(["/bin/sh", "-c", _fork_bomb(marker)], detach=True)
    samples: list[tuple[int, int]] = []  # (pids.current, the bomb's processes)
    try:
        await wait_until(
            lambda: _refused_since(cgroup, refused_before),
            timeout=60,
            interval=0.05,
            what="the fork bomb to hit the PID limit",
        )
        # Hold A at its limit for a while: it stays there, PID 1 lives, B answers.
        until = time.monotonic() + 3
        while time.monotonic() < until:
            marked = len(procs_with_marker(cgroup, marker))
            samples.append((read_int(cgroup / "pids.current"), marked))
            assert marked <= PIDS, samples
            await asyncio.sleep(0.1)
        assert Path(f"/proc/{pid1}").exists()
        async with httpx.AsyncClient(timeout=5) as h:
            assert (await h.get(f"http://{ip_b}:8080/health")).status_code == 200
    finally:
        killed = await asyncio.to_thread(kill_marked, cgroup, marker)
    assert killed >= PIDS // 2, (killed, samples)
    assert max(m for _, m in samples) >= PIDS // 2, samples
    assert pids_limit_hits(cgroup) - refused_before >= 10, "forks kept being refused"

    # A survived: same PID 1, no restart, healthy again, and Berth still sees it running.
    await _healthy(a, ip_a)
    assert a.attrs["State"]["Pid"] == pid1 and a.attrs["RestartCount"] == restarts
    assert (await client.get(f"/tenants/{tenants.a}")).json()["state"] == "running"


def _fork_bomb(marker: str) -> str:
    """A fork bomb that holds on at the limit.

    A shell bomb (`b() { b & b; }`) dies out by itself once the limit is hit: busybox
    sh exits when a fork fails. awk's system() just returns -1, so every copy keeps
    forking until killed. Each copy starts the next through `sh -c`, and both carry
    the marker on their command line.
    """
    program = (
        'BEGIN { while (1) system("awk \\"$P\\" </dev/null >/dev/null 2>&1 & : ' + marker + '") }'
    )
    return f'export P={shlex.quote(program)}; exec awk "$P"'


async def _refused_since(cgroup: Path, before: int) -> bool:
    return pids_limit_hits(cgroup) > before


async def test_memory_bomb_kills_only_the_offender(
    tenants: Tenants,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
) -> None:
    a, b = _container(dock, tenants.a), _container(dock, tenants.b)
    ip_a, ip_b = tenant_address(dock, stack, a), tenant_address(dock, stack, b)
    b_state = (b.attrs["State"]["Pid"], b.attrs["State"]["StartedAt"], b.attrs["RestartCount"])
    hog = 'x="$(head -c {n} /dev/zero | tr "\\000" x)"; echo "survived ${{#x}}"'
    # Control: the same allocation, small, completes inside A.
    code, out = await asyncio.to_thread(sh, a, hog.format(n=1_000_000))
    assert code == 0 and "survived 1000000" in out, (code, out)

    prober = HealthProber(f"http://{ip_b}:8080/health")
    prober.start()
    await wait_until(lambda: _answered(prober), timeout=30, what="a baseline answer from B")
    code, out = await asyncio.to_thread(sh, a, hog.format(n=400_000_000))
    await asyncio.sleep(1)  # B keeps being probed for a moment after the kill
    await prober.stop()

    assert code == 137 and "survived" not in out, (code, out)  # SIGKILLed by the OOM killer
    assert prober.failures == [], prober.failures
    b.reload()
    assert not b.attrs["State"]["OOMKilled"]
    now = (b.attrs["State"]["Pid"], b.attrs["State"]["StartedAt"], b.attrs["RestartCount"])
    assert now == b_state, "the neighbour was not restarted"
    await _healthy(a, ip_a)


async def _answered(prober: HealthProber) -> bool:
    return prober.ok > 0
