"""Incident rules: recording with de-duplication, crash-loop detection, resolution.

Used by the events watcher (fast path) and the reconciler (safety net); both may
see the same failure, so recording is idempotent per container and kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.audit.service import record
from controlplane.incidents.repository import IncidentRepository
from controlplane.models import Incident, Tenant
from controlplane.models.base import utcnow

# Docker reports one OOM kill as two `oom` events, and the `die` that follows it
# belongs to the same incident: events this close together collapse into one.
DEDUPE_WINDOW = timedelta(seconds=10)
FAILURE_KINDS = ("oom", "crash")
RECOVERABLE_KINDS = ("oom", "crash", "unhealthy")


@dataclass(frozen=True)
class Recorded:
    incident: Incident
    new: bool


async def record_failure(
    session: AsyncSession,
    *,
    tenant: Tenant,
    kind: str,
    container_id: str | None,
    exit_code: int | None = None,
    restart_count: int | None = None,
    source: str = "events",
) -> Recorded:
    """Open an incident, or fold a duplicate event into the matching open one."""
    repo = IncidentRepository(session)
    now = utcnow()
    since = now - DEDUPE_WINDOW
    if kind in ("oom", "crash"):
        # A repeated `oom`, or the `die` that ends an OOM kill, is the same incident.
        oom = await repo.latest_open(tenant.id, kind="oom", container_id=container_id, since=since)
        if oom is not None:
            if kind == "crash" and exit_code is not None:
                oom.exit_code = exit_code
            oom.last_seen_at = now
            return Recorded(oom, new=False)
    elif kind == "unhealthy":
        open_ = await repo.latest_open(
            tenant.id, kind="unhealthy", container_id=None, since=now - timedelta(days=365)
        )
        if open_ is not None:
            open_.last_seen_at = now
            return Recorded(open_, new=False)
    incident = Incident(
        tenant_id=tenant.id,
        slug=tenant.slug,
        kind=kind,
        severity="warning",
        exit_code=exit_code,
        restart_count=restart_count if restart_count is not None else tenant.restart_count,
        occurrences=1,
        container_id=container_id,
        source=source,
        detail={},
        opened_at=now,
        last_seen_at=now,
    )
    repo.add(incident)
    if kind in FAILURE_KINDS:
        tenant.restart_count += 1
    tenant.last_incident_at = now
    await session.flush()
    return Recorded(incident, new=True)


async def record_leak(
    session: AsyncSession, *, tenant: Tenant, secret: str, container: str
) -> Recorded:
    """A secret's value showed up in the tenant's logs: one open incident per secret,
    naming the secret and never its value; repeats only count occurrences."""
    repo = IncidentRepository(session)
    now = utcnow()
    open_ = await repo.open_leak(tenant.id, secret=secret)
    if open_ is not None:
        open_.occurrences += 1
        open_.last_seen_at = now
        return Recorded(open_, new=False)
    incident = Incident(
        tenant_id=tenant.id,
        slug=tenant.slug,
        kind="secret_leak",
        severity="critical",
        restart_count=tenant.restart_count,
        occurrences=1,
        container_id=None,
        source="leakscan",
        detail={"secret": secret, "container": container, "where": "container logs"},
        opened_at=now,
        last_seen_at=now,
    )
    repo.add(incident)
    tenant.last_incident_at = now
    record(
        session,
        actor="berth",
        action="tenant.secret_leak",
        target=f"tenant:{tenant.slug}",
        detail={"secret": secret, "container": container},
    )
    await session.flush()
    return Recorded(incident, new=True)


async def in_crash_loop(
    session: AsyncSession, *, tenant: Tenant, threshold: int, window: float
) -> bool:
    since = utcnow() - timedelta(seconds=window)
    return await IncidentRepository(session).count_failures_since(tenant.id, since) >= threshold


async def open_crash_loop(session: AsyncSession, *, tenant: Tenant, threshold: int) -> Incident:
    """Mark the tenant degraded and raise the critical incident; restarts stop here."""
    now = utcnow()
    incident = Incident(
        tenant_id=tenant.id,
        slug=tenant.slug,
        kind="crashloop",
        severity="critical",
        restart_count=tenant.restart_count,
        occurrences=1,
        container_id=tenant.container_id,
        source="berth",
        detail={"reason": f"{threshold} or more failures within the crash-loop window"},
        opened_at=now,
        last_seen_at=now,
    )
    IncidentRepository(session).add(incident)
    tenant.state = "degraded"
    tenant.state_reason = "crash loop: restarts stopped until POST /tenants/{slug}/restart"
    tenant.state_changed_at = now
    tenant.last_incident_at = now
    record(
        session,
        actor="berth",
        action="tenant.degraded",
        target=f"tenant:{tenant.slug}",
        detail={"restart_count": tenant.restart_count},
    )
    await session.flush()
    return incident


async def resolve_recovered(session: AsyncSession, *, tenant: Tenant) -> int:
    """The tenant is healthy again: close its open oom/crash/unhealthy incidents."""
    return await IncidentRepository(session).resolve_open(
        tenant.id, kinds=RECOVERABLE_KINDS, at=utcnow()
    )


async def resolve_crash_loop(session: AsyncSession, *, tenant: Tenant) -> int:
    return await IncidentRepository(session).resolve_open(
        tenant.id, kinds=("crashloop",), at=utcnow()
    )


def backoff_seconds(failures: int, *, base: float, cap: float) -> float:
    """Exponential restart backoff: base, 2*base, 4*base, ... capped."""
    if failures <= 0:
        return 0.0
    return float(min(cap, base * (2 ** (failures - 1))))
