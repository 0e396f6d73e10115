"""Reading a container's counters from cgroup (v1 and v2) and /proc files."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.runtime.cgroups import CgroupReader
from provisioner.usage import measure

CID = "ab" * 32
# /proc/<pid>/net/dev: two header lines, then per interface 8 receive and 8 transmit
# counters (bytes first in each group).
_ZEROS = " 0" * 7
NET_DEV = (
    "Inter-|   Receive  |  Transmit\n"
    " face |bytes packets ... |bytes packets ...\n"
    f"    lo: 500{_ZEROS} 500{_ZEROS}\n"
    f"  eth0: 1200{_ZEROS} 3400{_ZEROS}\n"
)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _proc(tmp: Path, pid: str = "4242") -> Path:
    _write(tmp / "proc" / pid / "net" / "dev", NET_DEV)
    return tmp / "proc"


@pytest.mark.parametrize("leaf", [f"docker/{CID}", f"system.slice/docker-{CID}.scope"])
def test_cgroup_v2_counters_read_as_the_engine_reports_them(tmp_path: Path, leaf: str) -> None:
    d = tmp_path / "cg" / leaf
    _write(d / "cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n")
    _write(d / "memory.current", "10485760\n")
    _write(d / "memory.stat", "anon 4096\nfile 8192\ninactive_file 2097152\n")
    _write(d / "cgroup.procs", "4242\n4243\n")
    reader = CgroupReader(tmp_path / "cg", _proc(tmp_path))
    paths = reader.find(CID)
    assert paths is not None and paths.version == 2
    stats = reader.stats(paths)
    assert stats is not None
    assert stats["cpu_stats"]["cpu_usage"]["total_usage"] == 1_500_000  # ns
    assert stats["networks"] == {"eth0": {"rx_bytes": 1200, "tx_bytes": 3400}}  # no lo
    assert measure(stats).memory_bytes == 10485760 - 2097152  # as `docker stats`


def test_cgroup_v1_counters_read_as_the_engine_reports_them(tmp_path: Path) -> None:
    cg = tmp_path / "cg"
    _write(cg / "cpuacct" / "docker" / CID / "cpuacct.usage", "123456789\n")
    _write(cg / "cpuacct" / "docker" / CID / "cgroup.procs", "4242\n")
    _write(cg / "memory" / "docker" / CID / "memory.usage_in_bytes", "5000000\n")
    _write(cg / "memory" / "docker" / CID / "memory.stat", "cache 1\ntotal_inactive_file 1000000\n")
    reader = CgroupReader(cg, _proc(tmp_path))
    paths = reader.find(CID)
    assert paths is not None and paths.version == 1
    stats = reader.stats(paths)
    assert stats is not None
    assert stats["cpu_stats"]["cpu_usage"]["total_usage"] == 123456789
    assert measure(stats).memory_bytes == 4_000_000
    assert stats["networks"]["eth0"] == {"rx_bytes": 1200, "tx_bytes": 3400}


def test_unknown_or_malformed_ids_are_not_found_so_the_engine_is_asked(tmp_path: Path) -> None:
    reader = CgroupReader(tmp_path / "cg", tmp_path / "proc")
    assert reader.find(CID) is None  # not on this host
    for bad in ("../../etc", "ab" * 31, "AB" * 32, CID + "/x"):
        assert reader.find(bad) is None


def test_a_container_gone_while_reading_gives_none(tmp_path: Path) -> None:
    d = tmp_path / "cg" / "docker" / CID
    _write(d / "cpu.stat", "usage_usec 1\n")
    _write(d / "memory.current", "1\n")
    _write(d / "memory.stat", "inactive_file 0\n")
    _write(d / "cgroup.procs", "999999\n")  # its process is gone: no /proc entry
    reader = CgroupReader(tmp_path / "cg", tmp_path / "proc")
    paths = reader.find(CID)
    assert paths is not None and reader.stats(paths) is None
