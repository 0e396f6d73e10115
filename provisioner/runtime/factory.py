"""Choosing the runtime backend from settings (BERTH_RUNTIME)."""

from __future__ import annotations

from controlplane.settings import Settings
from provisioner.runtime.base import RuntimeBackend
from provisioner.runtime.cgroups import CgroupReader


def host_counters(settings: Settings) -> CgroupReader | None:
    """The reader of the host's cgroup and /proc counters, unless BERTH_STATS_SOURCE
    says to ask the engine."""
    if settings.stats_source != "auto":
        return None
    host = settings.host_root
    return CgroupReader(host / "sys" / "fs" / "cgroup", host / "proc")


def make_backend(settings: Settings) -> RuntimeBackend:
    """The backend BERTH_RUNTIME names: `docker` (default) or `swarm`."""
    counters = host_counters(settings)
    if settings.runtime == "swarm":
        from provisioner.runtime.swarm import SwarmBackend

        return SwarmBackend(
            network=settings.tenant_network,
            probe=settings.swarm_probe,
            placement=settings.swarm_placement,
            host_counters=counters,
        )
    from provisioner.runtime.docker import DockerBackend

    return DockerBackend(network=settings.tenant_network, host_counters=counters)
