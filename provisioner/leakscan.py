"""Leak detection: scan each tenant container's recent logs for that tenant's secrets.

A beat task, every BERTH_LEAK_SCAN_INTERVAL. One list call finds the instance's
running (and frozen) tenant containers; one query loads their tenants' secrets;
each container's logs are read from where its previous scan stopped (a cursor per
container in Redis) up to now. A hit raises a `secret_leak` incident naming the
secret, never its value (one open incident per secret; repeats count occurrences).
The values live only in this function's memory and are never logged.

Values shorter than BERTH_LEAK_SCAN_MIN_LENGTH are not scanned: a short value
matches ordinary log text and would only raise false alarms. A cursor lost with
Redis means a rescan from the container's start, which the de-duplication absorbs.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import structlog
from redis.exceptions import RedisError

from controlplane.incidents.service import record_leak
from controlplane.tenants.repository import TenantRepository
from provisioner.context import WorkerContext
from provisioner.runtime.base import ContainerInfo, RuntimeBackendError
from provisioner.spec import LABEL_INSTANCE, LABEL_TENANT_ID

log = structlog.get_logger(__name__)

CURSOR_PREFIX = "berth:leakscan:"
CURSOR_TTL = 7 * 86400
CONCURRENCY = 8


@dataclass
class LeakScanResult:
    containers: int = 0
    hits: int = 0
    incidents: int = 0
    errors: int = 0
    leaked: list[str] = field(default_factory=list)  # "<slug>:<secret name>", never values

    def as_dict(self) -> dict[str, object]:
        return {
            "containers": self.containers,
            "hits": self.hits,
            "incidents": self.incidents,
            "errors": self.errors,
            "leaked": self.leaked,
        }


def _cursor(ctx: WorkerContext, container_id: str) -> float:
    try:
        raw = ctx.redis.get(CURSOR_PREFIX + container_id)
    except RedisError:
        return 1.0
    return float(raw) if raw else 1.0  # the engine's `since` must be > 0


def _advance(ctx: WorkerContext, container_id: str, until: float) -> None:
    try:
        ctx.redis.setex(CURSOR_PREFIX + container_id, CURSOR_TTL, repr(until))
    except RedisError:
        pass  # the next scan repeats this window; de-duplication absorbs it


async def _scan_one(
    ctx: WorkerContext, info: ContainerInfo, secrets: dict[str, str], gate: asyncio.Semaphore
) -> tuple[list[str], float] | None:
    """Names of the secrets in the container's new log lines, and where the window
    ended (None when the logs could not be read)."""
    async with gate:
        until = time.time()
        since = await asyncio.to_thread(_cursor, ctx, info.id)
        try:
            text = await asyncio.to_thread(ctx.backend.logs, info.id, since=since, until=until)
        except RuntimeBackendError as exc:
            log.warning("leak_scan_logs_failed", container=info.name, error_type=type(exc).__name__)
            return None
    return [name for name, value in secrets.items() if value in text], until


async def leak_scan(ctx: WorkerContext) -> LeakScanResult:
    """One pass over every running tenant container of this instance."""
    result = LeakScanResult()
    infos = await asyncio.to_thread(ctx.backend.list, {LABEL_INSTANCE: ctx.settings.instance})
    infos = [i for i in infos if i.state in ("running", "paused") and i.labels.get(LABEL_TENANT_ID)]
    if not infos:
        return result
    ids = {uuid.UUID(i.labels[LABEL_TENANT_ID]) for i in infos}
    secrets: dict[uuid.UUID, dict[str, str]] = defaultdict(dict)
    async with ctx.sessionmaker() as session:
        for row in await TenantRepository(session).secrets_for(sorted(ids)):
            value = ctx.box.decrypt(row.ciphertext)
            if len(value) >= ctx.settings.leak_scan_min_length:
                secrets[row.tenant_id][row.name] = value
    targets = [i for i in infos if secrets.get(uuid.UUID(i.labels[LABEL_TENANT_ID]))]
    result.containers = len(targets)
    gate = asyncio.Semaphore(CONCURRENCY)
    found = await asyncio.gather(
        *(_scan_one(ctx, i, secrets[uuid.UUID(i.labels[LABEL_TENANT_ID])], gate) for i in targets)
    )
    for info, scanned in zip(targets, found, strict=True):
        if scanned is None:
            result.errors += 1
            continue
        names, until = scanned
        if names:
            await _record(ctx, info, names, result)
        # Only once any incident is durable: a crash before this rescans the window.
        await asyncio.to_thread(_advance, ctx, info.id, until)
    return result


async def _record(
    ctx: WorkerContext, info: ContainerInfo, names: list[str], result: LeakScanResult
) -> None:
    tenant_id = uuid.UUID(info.labels[LABEL_TENANT_ID])
    async with ctx.sessionmaker() as session:
        tenant = await TenantRepository(session).get(tenant_id, for_update=True)
        if tenant is None:
            return
        for name in names:
            recorded = await record_leak(session, tenant=tenant, secret=name, container=info.name)
            result.hits += 1
            result.incidents += int(recorded.new)
            result.leaked.append(f"{tenant.slug}:{name}")
            log.warning("secret_leak", tenant=tenant.slug, secret=name, container=info.name)
        await session.commit()
