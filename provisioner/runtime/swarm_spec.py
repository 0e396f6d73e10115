"""The Swarm service spec for one tenant. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docker.utils import version_gte

from provisioner.runtime.base import ContainerSpec
from provisioner.spec import LABEL_PLAN

SECOND = 1_000_000_000
# Tasks get STOP_GRACE to exit on SIGTERM (a Docker force-remove gives none).
STOP_GRACE = 3


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
