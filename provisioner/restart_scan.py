"""Which running tenant containers may have restarted since Berth accounted for them.

The reconciler must record restarts the events watcher missed (it was down, or the
event was lost) without inspecting every container on every sweep. Two cheap signals
pick the few containers worth an inspect, and the inspect's RestartCount decides:

- the engine's recent `start` events, read in one bounded events call covering the
  time since the previous sweep: precise to the nanosecond, but the engine keeps only
  its last few hundred events, so a burst can push some out;
- the list's human status line ("Up 12 seconds"): always there, but only precise to
  its unit, so it proves a restart only when the uptime's upper bound is shorter than
  the time since Berth marked the tenant running.

Each covers the other's blind spot: an engine restart within a second of Berth
accounting for the container is visible only as an event, and an event lost in a
burst is still caught by the status line once the restart is over a second old.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from datetime import datetime

import structlog

from provisioner.context import WorkerContext
from provisioner.runtime.base import ContainerInfo, RuntimeBackendError
from provisioner.spec import LABEL_INSTANCE

log = structlog.get_logger(__name__)

# Docker's units.HumanDuration: seconds and minutes are floored, hours are rounded.
_UPTIME = re.compile(r"^Up (Less than a|About an?|\d+) (second|minute|hour)s?\b")
_UNIT = {"second": 1.0, "minute": 60.0, "hour": 3600.0}

# Where a process's first sweep starts reading events: restarts older than this are
# left to the status line.
FIRST_LOOKBACK_SECONDS = 120.0
# Events are read from a little before the previous sweep's clock: the engine stamps
# an event when it happens, which can be a moment before it is readable.
OVERLAP_SECONDS = 2.0

# Per process and instance: the clock of this process's previous sweep. Sweeps of
# other workers in between only widen the next window, so nothing is missed.
_previous_sweep: dict[str, float] = {}


def uptime_ceiling(status: str) -> float | None:
    """Seconds the container has been up at most, from the list's status line.

    None when the line gives no bound worth having (not running, or up for days).
    """
    match = _UPTIME.match(status)
    if match is None:
        return None
    amount, unit = match.group(1), _UNIT[match.group(2)]
    if amount == "Less than a":
        return 1.0
    if amount.startswith("About"):
        # "About a minute" is [60, 120) s; "About an hour" is [60 min, 90 min).
        return 120.0 if unit == 60.0 else 5400.0
    n = float(amount)
    return (n + 0.5) * unit if unit == 3600.0 else (n + 1) * unit


async def recent_starts(ctx: WorkerContext, now: float) -> Mapping[str, float]:
    """Container id → time of its latest engine `start` since the previous sweep.

    One events call, bounded by `now`. An engine error yields nothing: the status
    line still catches restarts, only less precisely.
    """
    instance = ctx.settings.instance
    since = _previous_sweep.get(instance, now - FIRST_LOOKBACK_SECONDS) - OVERLAP_SECONDS

    def read() -> dict[str, float]:
        starts: dict[str, float] = {}
        for event in ctx.backend.events({LABEL_INSTANCE: instance}, since=since, until=now):
            if event.get("Action", event.get("status")) != "start":
                continue
            cid = str(event.get("id") or (event.get("Actor") or {}).get("ID") or "")
            at = int(event.get("timeNano") or 0) / 1e9 or float(event.get("time") or 0)
            starts[cid] = max(at, starts.get(cid, 0.0))
        return starts

    try:
        starts = await asyncio.to_thread(read)
    except RuntimeBackendError as exc:
        log.warning("restart_scan_events_failed", error=str(exc))
        return {}
    _previous_sweep[instance] = now
    return starts


def may_have_restarted(
    info: ContainerInfo, accounted_at: datetime, now: float, starts: Mapping[str, float]
) -> bool:
    """Whether the running container may have started since `accounted_at`.

    `accounted_at` is when Berth last recorded the tenant's state: Berth's own start
    of a container always precedes it (a tenant is marked running after its health).
    """
    since = accounted_at.timestamp()
    started = starts.get(info.id)
    if started is not None and started > since:
        return True
    ceiling = uptime_ceiling(info.status or "")
    return ceiling is not None and ceiling < now - since
