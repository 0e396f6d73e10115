"""Memory, file descriptors and CPU time of Berth's processes, read from /proc.

Each Berth process is started in its own session (process group = its pid), so a
process "tree" is every pid whose process group is that pid: the Celery worker's
prefork children included. RSS counts pages shared between a parent and its forked
children once per process; PSS divides shared pages among their sharers, so the PSS
of a tree is what it really costs the host.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def group_pids(pgid: int) -> list[int]:
    """Every live pid in process group `pgid`."""
    out: list[int] = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after "(comm)": state, ppid, pgrp, ...
            out.append(int(name))
    return out


def _kib(path: str, key: str) -> int:
    try:
        with open(path, encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


@dataclass(frozen=True)
class TreeUsage:
    processes: int
    rss_mib: float
    pss_mib: float
    fds: int


def usage(pgid: int) -> TreeUsage:
    """RSS, PSS and open file descriptors summed over a process group."""
    pids = group_pids(pgid)
    rss = sum(_kib(f"/proc/{p}/status", "VmRSS:") for p in pids)
    pss = sum(_kib(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids)
    return TreeUsage(
        processes=len(pids),
        rss_mib=rss / 1024,
        pss_mib=pss / 1024,
        fds=sum(_fds(p) for p in pids),
    )


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used (None if unreadable)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def pid_of(name: str) -> int | None:
    """The first process whose command name is `name` (e.g. dockerd)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm", encoding="ascii", errors="replace") as fh:
                if fh.read().strip() == name:
                    return int(entry)
        except OSError:
            continue
    return None
