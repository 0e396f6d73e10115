"""A container's CPU, memory and network counters read from the host's cgroup and
/proc files, when Berth runs on the engine's host.

dockerd answers a one-shot stats call at its collector's next tick (~1 s), whatever
the load, so sampling 300 tenants through the API takes minutes and the idle sweep
cannot keep its interval. The kernel's own counters are the same numbers `docker
stats` reports, read in microseconds. Where they are not visible (a remote engine,
Berth in a container without the host's /sys/fs/cgroup and /proc, rootless or Podman
layouts), `find` returns None and the caller asks the engine.

The result has the shape of the engine's stats document, limited to the fields Berth
reads: cpu_stats.cpu_usage.total_usage (ns), memory_stats.usage and
memory_stats.stats.(total_)inactive_file, and networks.<if>.rx_bytes/tx_bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class CgroupPaths:
    """Where one container's counters live."""

    version: int  # 1 or 2
    cpu: Path  # v1: the cpuacct controller's dir; v2: the unified dir
    memory: Path


class CgroupReader:
    """Reads containers' counters from `root` (/sys/fs/cgroup) and `proc` (/proc)."""

    def __init__(self, root: Path = Path("/sys/fs/cgroup"), proc: Path = Path("/proc")) -> None:
        self.root, self.proc = root, proc

    def find(self, container_id: str) -> CgroupPaths | None:
        """The container's cgroup dirs (cgroupfs or systemd driver, v1 or v2), or None."""
        if len(container_id) != 64 or not all(ch in "0123456789abcdef" for ch in container_id):
            return None  # only full engine IDs: never a path made from anything else
        leaves = (f"docker/{container_id}", f"system.slice/docker-{container_id}.scope")
        for leaf in leaves:
            unified = self.root / leaf
            if (unified / "cpu.stat").is_file() and (unified / "memory.current").is_file():
                return CgroupPaths(2, unified, unified)
        for leaf in leaves:
            for cpu_dir in ("cpuacct", "cpu,cpuacct"):
                cpu = self.root / cpu_dir / leaf
                memory = self.root / "memory" / leaf
                usage = memory / "memory.usage_in_bytes"
                if (cpu / "cpuacct.usage").is_file() and usage.is_file():
                    return CgroupPaths(1, cpu, memory)
        return None

    def stats(self, paths: CgroupPaths) -> dict[str, Any] | None:
        """The counters as an engine stats document; None if the container went away
        while reading (its cgroup is removed with it)."""
        try:
            if paths.version == 2:
                cpu_ns = _keyed(paths.cpu / "cpu.stat")["usage_usec"] * 1000
                usage = int((paths.memory / "memory.current").read_text())
                inactive = _keyed(paths.memory / "memory.stat").get("inactive_file", 0)
                memory = {"usage": usage, "stats": {"inactive_file": inactive}}
            else:
                cpu_ns = int((paths.cpu / "cpuacct.usage").read_text())
                usage = int((paths.memory / "memory.usage_in_bytes").read_text())
                inactive = _keyed(paths.memory / "memory.stat").get("total_inactive_file", 0)
                memory = {"usage": usage, "stats": {"total_inactive_file": inactive}}
            networks = self._networks(paths.cpu)
        except (FileNotFoundError, ProcessLookupError, KeyError, ValueError):
            return None
        return {
            "cpu_stats": {"cpu_usage": {"total_usage": cpu_ns}},
            "memory_stats": memory,
            "networks": networks,
        }

    def _networks(self, cgroup: Path) -> dict[str, dict[str, int]]:
        """Per-interface byte counters of the container's network namespace (as seen by
        its first process), loopback excluded as the engine does."""
        procs = (cgroup / "cgroup.procs").read_text().split()
        if not procs:
            return {}  # no process: stopped meanwhile, nothing on the wire
        out: dict[str, dict[str, int]] = {}
        for line in (self.proc / procs[0] / "net" / "dev").read_text().splitlines()[2:]:
            name, _, counters = line.partition(":")
            name = name.strip()
            if name == "lo" or not counters:
                continue
            fields = counters.split()
            out[name] = {"rx_bytes": int(fields[0]), "tx_bytes": int(fields[8])}
        return out


def _keyed(path: Path) -> dict[str, int]:
    """A flat "key value" cgroup file (cpu.stat, memory.stat)."""
    out: dict[str, int] = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out
