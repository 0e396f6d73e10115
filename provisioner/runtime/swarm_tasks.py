"""Reading a Swarm service's state from its tasks: which task is current, what state
that maps to on the backend contract, its address, uptime and logs. Pure but for the clock."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

from provisioner.runtime.base import ContainerInfo

# Task states before a container runs; after them come running, then an end state.
STARTING = ("new", "pending", "assigned", "accepted", "preparing", "ready", "starting")
FAILED = ("failed", "rejected")
ENDED = ("complete", "shutdown", "failed", "rejected", "orphaned", "remove")
TASK_ID_LABEL = "com.docker.swarm.task.id"
_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$")

# Desired states of a slot's current task. Swarm's restart supervisor marks a failed
# task `shutdown` and, in the same transaction, creates its replacement desired
# `ready` (it becomes `running` after the restart delay); when the policy's attempts
# are spent it creates none.
CURRENT = ("running", "ready")


def newest(tasks: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not tasks:
        return None
    live = [t for t in tasks if t.get("DesiredState") in CURRENT] or tasks
    return max(live, key=lambda t: (t.get("Version") or {}).get("Index", 0))


def last_failed(tasks: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The most recent of the tasks that failed (each one Swarm replaced: a restart)."""
    failed = [t for t in tasks if (t.get("Status") or {}).get("State") in FAILED]
    return max(failed, key=lambda t: (t.get("Version") or {}).get("Index", 0), default=None)


def task_state(replicas: int, task: dict[str, Any] | None, failures: int) -> str:
    if replicas == 0:
        return "exited"  # scaled to 0 by Berth: stopped
    if task is None:
        return "created"
    state = (task.get("Status") or {}).get("State", "")
    if state == "running":
        return "running"
    if task.get("DesiredState") in CURRENT:
        # Starting, or failed and not yet seen by the orchestrator, which replaces it
        # under the restart policy (or marks it shutdown when the attempts are spent).
        # Telling the gap apart from a stop keeps converge's hands off, as Docker's
        # `restarting` does, so the crash-loop count is not cut short by a re-create.
        return "restarting" if failures or state in FAILED else "created"
    if state in STARTING:
        return "restarting" if failures else "created"
    return "exited"


def task_address(task: dict[str, Any], preferred: str | None) -> str | None:
    """The task's address on `preferred` (the tenants overlay), else on its only network
    (a tenant of an egress `none` plan is on the internal overlay alone)."""
    addresses: dict[str, str] = {
        att["Network"]["Spec"]["Name"]: str(att["Addresses"][0]).split("/")[0]
        for att in task.get("NetworksAttachments") or []
        if att.get("Addresses")
    }
    if preferred in addresses:
        return addresses[preferred]
    return next(iter(addresses.values())) if len(addresses) == 1 else None


def parse_timestamp(value: str) -> float | None:
    """Epoch seconds of an engine timestamp (RFC 3339, with up to nanoseconds)."""
    match = _TIMESTAMP.match(value or "")
    if match is None or value.startswith("0001-"):
        return None
    whole, frac, zone = match.groups()
    zone = "+00:00" if zone in (None, "Z") else zone
    return datetime.fromisoformat(whole + zone).timestamp() + float(f"0{frac or ''}")


def lines_between(stamped: str, since: float, until: float) -> str:
    """The lines of a timestamped log (`timestamps=true`) written in [since, until),
    without their stamps."""
    kept = []
    for line in stamped.splitlines(keepends=True):
        stamp, _, text = line.partition(" ")
        at = parse_timestamp(stamp)
        if at is not None and since <= at < until:
            kept.append(text)
    return "".join(kept)


def up_status(seconds: float) -> str:
    """Docker's `docker ps` status line for a container up `seconds` (go-units'
    HumanDuration), so callers read a task's uptime as they read a container's."""
    if seconds < 1:
        return "Up Less than a second"
    if seconds < 2:
        return "Up 1 second"
    if seconds < 60:
        return f"Up {int(seconds)} seconds"
    minutes = int(seconds // 60)
    if minutes == 1:
        return "Up About a minute"
    if minutes < 60:
        return f"Up {minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    return "Up About an hour" if hours == 1 else f"Up {hours} hours"


def service_info(
    svc: dict[str, Any],
    tasks: list[dict[str, Any]],
    *,
    gateway: dict[str, str] | None,
    network: str | None,
) -> ContainerInfo:
    """The contract's view of one service from its tasks. `gateway` maps container
    IDs to docker_gwbridge addresses (the gateway probe), else None: the task's
    address on the tenants overlay is used."""
    spec = svc["Spec"]
    mine = [t for t in tasks if t.get("ServiceID") == svc["ID"]]
    task = newest(mine)
    failures = sum(1 for t in mine if (t.get("Status") or {}).get("State") in FAILED)
    replicas = int(spec["Mode"]["Replicated"]["Replicas"])
    state = task_state(replicas, task, failures)
    status = (task or {}).get("Status") or {}
    container = status.get("ContainerStatus") or {}
    ip = None
    if state == "running" and task is not None:
        if gateway is not None:
            ip = gateway.get(container.get("ContainerID", "")) or None
        else:
            ip = task_address(task, network)
    line = status.get("Err") or status.get("Message")
    exit_code = container.get("ExitCode") if state == "exited" else None
    if state == "running":
        # Docker's wording, so the reconciler reads a task's uptime (and so spots a
        # task that replaced a failed one) as it reads a container's.
        since = parse_timestamp(status.get("Timestamp") or "")
        if since is not None:
            line = up_status(max(time.time() - since, 0.0))
        if failures:
            # Running again after a failure: report how the last one ended, as
            # the incident the watcher records from the task's die event does.
            failed = last_failed(mine) or {}
            exit_code = ((failed.get("Status") or {}).get("ContainerStatus") or {}).get("ExitCode")
    return ContainerInfo(
        id=svc["ID"],
        name=spec["Name"],
        labels=spec["TaskTemplate"]["ContainerSpec"].get("Labels") or {},
        state=state,
        ip=ip,
        exit_code=exit_code,
        restart_count=failures,
        started_at=status.get("Timestamp") if state == "running" else None,
        status=line,
    )


def stray_containers(running: list[dict[str, Any]], tasks: list[dict[str, Any]]) -> list[str]:
    """Running containers (`docker ps` entries) of tasks that Swarm has ended for good.

    `docker restart` on a task's container brings its process back after Swarm has
    recorded the task as ended and started a replacement: two processes then share the
    tenant's volume, and Swarm never stops the old one (it is not its task any more). A
    task that is only stopping is not ended yet, so Swarm's own shutdown is left alone.
    """
    ended = {
        t["ID"]
        for t in tasks
        if t.get("DesiredState") not in CURRENT and (t.get("Status") or {}).get("State") in ENDED
    }
    return [c["Id"] for c in running if (c.get("Labels") or {}).get(TASK_ID_LABEL) in ended]
