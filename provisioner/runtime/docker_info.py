"""ContainerInfo from the Docker engine's answers: a full inspect, or one row of a list."""

from __future__ import annotations

from typing import Any

from provisioner.runtime.base import ContainerInfo


def info_from_inspect(data: dict[str, Any], network: str | None) -> ContainerInfo:
    """From `inspect_container`; the IP is the one on `network`, else the only one."""
    state = data.get("State") or {}
    networks = (data.get("NetworkSettings") or {}).get("Networks") or {}
    ip = None
    if network and network in networks:
        ip = networks[network].get("IPAddress") or None
    elif networks:
        ip = next(iter(networks.values())).get("IPAddress") or None
    health = (state.get("Health") or {}).get("Status")
    return ContainerInfo(
        id=data["Id"],
        name=data.get("Name", "").lstrip("/"),
        labels=(data.get("Config") or {}).get("Labels") or {},
        state=state.get("Status", "unknown"),
        ip=ip,
        health=health,
        exit_code=state.get("ExitCode"),
        oom_killed=bool(state.get("OOMKilled")),
        restart_count=int(data.get("RestartCount") or 0),
        started_at=state.get("StartedAt"),
    )


def info_from_list(item: dict[str, Any], network: str | None) -> ContainerInfo:
    """From one row of `containers()`, which has no health field: it is read from Status."""
    networks = (item.get("NetworkSettings") or {}).get("Networks") or {}
    ip = None
    if network and network in networks:
        ip = networks[network].get("IPAddress") or None
    elif networks:
        # A tenant on another network (egress `none`: the internal one) has only that.
        ip = next(iter(networks.values())).get("IPAddress") or None
    status = item.get("Status") or ""
    health = None
    for word in ("healthy", "unhealthy", "starting"):
        if f"({word})" in status or f"(health: {word})" in status:
            health = word
    names = item.get("Names") or [""]
    return ContainerInfo(
        id=item["Id"],
        name=names[0].lstrip("/"),
        labels=item.get("Labels") or {},
        state=item.get("State", "unknown"),
        ip=ip,
        health=health,
        status=status,
    )
