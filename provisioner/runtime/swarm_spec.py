"""The Swarm service spec for one tenant, and reading task state and logs. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from docker.utils import version_gte

from provisioner.runtime.base import ContainerSpec
from provisioner.spec import LABEL_PLAN

SECOND = 1_000_000_000
# Tasks get STOP_GRACE to exit on SIGTERM (a Docker force-remove gives none).
STOP_GRACE = 3
# Task states before a container runs; after them come running, then an end state.
STARTING = ("new", "pending", "assigned", "accepted", "preparing", "ready", "starting")
FAILED = ("failed", "rejected")
_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$")


def service_spec(
    spec: ContainerSpec,
    *,
    api_version: str,
    network: str,
    placement: Mapping[str, list[str]],
) -> dict[str, Any]:
    """The Swarm service for one tenant: 1 replica, limits, hardening, labels, updates."""
    container: dict[str, Any] = {
        "Image": spec.image,
        "Labels": dict(spec.labels),
        "Env": [f"{k}={v}" for k, v in spec.env.items()],
        "User": spec.user,
        "Hostname": spec.hostname,
        "ReadOnly": True,
        "CapabilityDrop": ["ALL"],
        "StopGracePeriod": STOP_GRACE * SECOND,
        # Swarm runs a task only once the image's healthcheck passes, and stops it
        # when it fails. The image's test and interval are kept; a longer timeout
        # and start period keep a busy node from killing tasks that are only slow
        # (Berth's own probe still decides within BERTH_PROVISION_TIMEOUT).
        "Healthcheck": {"Timeout": 10 * SECOND, "StartPeriod": 60 * SECOND},
        "Mounts": [
            {
                "Type": "volume",
                "Source": spec.volume,
                "Target": "/data",
                # The node that runs the task creates the volume with these labels.
                "VolumeOptions": {
                    "Labels": dict(spec.volume_labels),
                    "DriverConfig": {"Name": "local"},
                },
            },
            {
                # Swarm mounts tmpfs rw,nosuid,nodev,noexec; 1777 keeps it writable
                # for the tenant user (there is no uid= option for services).
                "Type": "tmpfs",
                "Target": "/tmp",
                "TmpfsOptions": {"SizeBytes": spec.tmpfs_mb * 1024 * 1024, "Mode": 0o1777},
            },
        ],
    }
    if version_gte(api_version, "1.46"):
        container["Privileges"] = {"NoNewPrivileges": True}
    labels = {
        **spec.labels,
        # Traefik v3's swarm provider reads service labels; route to task IPs
        # (not the VIP) so two colours of one tenant share a Traefik service.
        "traefik.swarm.network": spec.network,
        "traefik.swarm.lbswarm": "false",
    }
    return {
        "Name": spec.name,
        "Labels": labels,
        "TaskTemplate": {
            "ContainerSpec": container,
            "Resources": {
                "Limits": {
                    "NanoCPUs": int(spec.cpu * SECOND),
                    "MemoryBytes": spec.memory_mb * 1024 * 1024,
                    "Pids": spec.pids,
                },
                # Memory is reserved in full so the scheduler never over-commits
                # a node's RAM; CPU is shared, as on one Docker host.
                "Reservations": {"MemoryBytes": spec.memory_mb * 1024 * 1024},
            },
            # `any`, not `on-failure`: Swarm stops a task whose image healthcheck
            # reports unhealthy, and a tenant that exits 0 on SIGTERM would then
            # stay down where Docker would only have marked it unhealthy.
            "RestartPolicy": {
                "Condition": "any",
                "Delay": SECOND // 2,
                "MaxAttempts": 5,
            },
            "Placement": {
                "Constraints": list(placement.get(spec.labels.get(LABEL_PLAN, ""), [])),
                # Tenants spread over zones when nodes carry berth.zone labels; the
                # scheduler spreads over nodes by task count anyway.
                "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.berth.zone"}}],
            },
            "Networks": [{"Target": network}],
            "LogDriver": {
                "Name": "json-file",
                "Options": {"max-size": "10m", "max-file": "3"},
            },
        },
        "Mode": {"Replicated": {"Replicas": 1}},
        # Updates the engine performs itself (a forced update, an operator's
        # `docker service update`) start the new task first and roll back on failure.
        "UpdateConfig": {
            "Parallelism": 1,
            "Order": "start-first",
            "FailureAction": "rollback",
            "Monitor": 10 * SECOND,
        },
        "RollbackConfig": {"Parallelism": 1, "Order": "start-first", "FailureAction": "pause"},
        # Traefik routes to task addresses, so no virtual IP is needed.
        "EndpointSpec": {"Mode": "dnsrr"},
    }


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
