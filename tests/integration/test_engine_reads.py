"""Cheap reads of the engine's state: tenant usage from the host's cgroup and /proc
files (agrees with the engine's stats call, costs no engine call), and the reconciler's
bounded read of recent start events."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import docker
import httpx
import pytest

from provisioner.context import build_context
from provisioner.restart_scan import recent_starts
from provisioner.runtime.cgroups import CgroupReader
from provisioner.runtime.docker import DockerBackend
from provisioner.usage import measure
from tests.fixtures.stack import Stack

pytestmark = pytest.mark.docker


@pytest.fixture
def busy(dock: docker.DockerClient, stack: Stack) -> Iterator[Any]:
    """A labelled sample-blueprint container burning some CPU and serving HTTP."""
    c = dock.containers.run(
        "berth-sample:1",
        name=f"berth-counters-{uuid.uuid4().hex[:8]}",
        detach=True,
        labels={"berth.managed": "true", "berth.instance": stack.instance},
        mem_limit="64m",
    )
    try:
        c.exec_run(["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"])
        c.reload()
        yield c
    finally:
        c.remove(force=True)


def _cpu(stats: dict[str, Any]) -> int:
    return int(stats["cpu_stats"]["cpu_usage"]["total_usage"])


def _net(stats: dict[str, Any]) -> int:
    return sum(n["rx_bytes"] + n["tx_bytes"] for n in stats["networks"].values())


async def test_host_counters_match_the_engines_stats_without_an_engine_call(
    busy: Any, stack: Stack
) -> None:
    ip = busy.attrs["NetworkSettings"]["IPAddress"]  # the default bridge
    async with httpx.AsyncClient(timeout=10, trust_env=False) as h:
        for _ in range(5):  # some traffic, so the network counters are not all zero
            await h.get(f"http://{ip}:8080/health")

    local = DockerBackend(network=stack.settings.tenant_network, host_counters=CgroupReader())
    engine = DockerBackend(network=stack.settings.tenant_network)
    assert local.host_counters is not None and local.host_counters.find(busy.id) is not None

    before_calls = sum(local.api.calls.values())
    first = local.stats(busy.id)
    assert sum(local.api.calls.values()) == before_calls, "read without asking the engine"
    api = engine.stats(busy.id)
    last = local.stats(busy.id)

    # The engine read the same kernel counters at some moment between our two reads.
    assert _cpu(first) <= _cpu(api) <= _cpu(last)
    assert _cpu(first) > 0
    assert _net(first) <= _net(api) <= _net(last)
    assert _net(first) > 0
    # Memory moves a little between reads; the same accounting gives the same figure.
    ours, theirs = measure(last).memory_bytes, measure(api).memory_bytes
    assert abs(ours - theirs) <= max(theirs // 10, 1 << 20), (ours, theirs)


def test_stats_source_engine_asks_the_engine(busy: Any, stack: Stack) -> None:
    engine = DockerBackend(network=stack.settings.tenant_network)
    before = engine.api.calls["GET"]
    assert _cpu(engine.stats(busy.id)) > 0
    assert engine.api.calls["GET"] == before + 1


async def test_the_sweep_reads_the_engines_start_events_with_their_time(
    stack: Stack, dock: docker.DockerClient, slug: str
) -> None:
    """The events window the reconciler reads (one call) names a container started in it,
    with the engine's own start time: that is what catches a restart within a second of
    Berth marking the tenant running, which the list's status line cannot."""
    ctx = build_context(stack.settings)
    c = dock.containers.run(
        "berth-sample:1",
        name=f"berth-probe-{slug}",
        detach=True,
        labels={"berth.managed": "true", "berth.instance": stack.instance},
    )
    try:
        c.reload()
        started = datetime.fromisoformat(c.attrs["State"]["StartedAt"][:26] + "+00:00")
        starts = await recent_starts(ctx, time.time())
    finally:
        c.remove(force=True)
        await ctx.engine.dispose()
    # The event is stamped as the start completes: milliseconds after StartedAt.
    assert 0 <= starts[c.id] - started.timestamp() < 0.5
