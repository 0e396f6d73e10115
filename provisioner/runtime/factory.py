"""Choosing the runtime backend from settings (BERTH_RUNTIME)."""

from __future__ import annotations

from controlplane.settings import Settings
from provisioner.runtime.base import RuntimeBackend
from provisioner.runtime.cgroups import CgroupReader


def make_backend(settings: Settings) -> RuntimeBackend:
    """The backend BERTH_RUNTIME names: `docker` (default) or `swarm`."""
    counters = None
    if settings.stats_source == "auto":
        host = settings.host_root
        counters = CgroupReader(host / "sys" / "fs" / "cgroup", host / "proc")
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
