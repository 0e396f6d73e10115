"""Waiting for a tenant container to answer its health path."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from provisioner.runtime.base import ContainerInfo, RuntimeBackend

# Docker's restart policy allows this many restarts; past it the container stays down.
MAX_RESTARTS = 5


@dataclass(frozen=True)
class HealthResult:
    healthy: bool
    reason: str | None
    info: ContainerInfo | None


async def probe(client: httpx.AsyncClient, url: str) -> bool:
    try:
        response = await client.get(url)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


async def wait_healthy(
    backend: RuntimeBackend,
    client: httpx.AsyncClient,
    info: ContainerInfo,
    *,
    port: int,
    path: str,
    timeout: float,
    poll: float,
) -> HealthResult:
    """Poll http://<ip>:<port><path> until 200, the container gives up, or `timeout`."""
    deadline = time.monotonic() + timeout
    last_inspect = time.monotonic()
    current = info
    while True:
        if current.ip and await probe(client, f"http://{current.ip}:{port}{path}"):
            return HealthResult(True, None, current)
        now = time.monotonic()
        if now >= deadline:
            return HealthResult(
                False, f"health check {path} did not answer 200 within {timeout:g}s", current
            )
        if current.ip is None or now - last_inspect > 0.5:
            last_inspect = now
            fresh = await asyncio.to_thread(backend.inspect, current.id)
            if fresh is None:
                return HealthResult(False, "container disappeared while starting", None)
            current = fresh
            # Docker's restart policy is still working while restarts remain.
            if current.state in ("exited", "dead") and current.restart_count >= MAX_RESTARTS:
                why = "out of memory" if current.oom_killed else f"exit code {current.exit_code}"
                return HealthResult(False, f"container keeps exiting ({why})", current)
        await asyncio.sleep(poll)
