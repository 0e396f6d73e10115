"""All metrics queries: a constant number of aggregate reads, whatever the fleet size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Numeric, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.models import (
    Incident,
    Rollout,
    RolloutTarget,
    Tenant,
    TenantEvent,
    TenantEventRollup,
    TenantUsage,
)

# Histogram bucket upper bounds (seconds). Provisioning means pulling nothing (images
# are local) but starting and health-checking a container; a frozen tenant wakes in
# milliseconds, a stopped one in about a second.
PROVISION_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
WAKE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# The lifecycle event kinds the metrics count (see migration 0007 for all kinds).
COUNTED_KINDS = ("routed", "provision_failed", "paused", "woken", "wake_requested")
# Every bound either histogram uses: what the aggregate and the rollup count per kind.
BOUNDS = tuple(sorted(set(PROVISION_BUCKETS) | set(WAKE_BUCKETS)))


def bound_key(bound: float) -> str:
    """A bound as tenant_event_rollup.buckets spells it ("0.005", "120.0")."""
    return repr(float(bound))


def rolled_bucket(buckets: dict[str, int], bound: float) -> int:
    """Pruned events that took at most `bound` seconds. A bound added after they were
    pruned has no count of its own: they count at the next lower bound, which keeps
    the histogram cumulative (an undercount, never one that goes down)."""
    key = bound_key(bound)
    if key in buckets:
        return int(buckets[key])
    below = [float(k) for k in buckets if float(k) < bound]
    return int(buckets[bound_key(max(below))]) if below else 0


@dataclass(frozen=True)
class TenantGroup:
    """How many tenants share one combination of the fleet-level attributes."""

    state: str
    desired_state: str
    blueprint_version: str
    live: bool
    provisioned: bool
    count: int
    restarts: int = 0


@dataclass(frozen=True)
class LiveTenant:
    slug: str
    state: str
    restart_count: int
    cpu: float
    memory_mb: int
    cpu_used: float | None = None  # measured cores, None until sampled twice
    memory_used: int | None = None  # measured bytes, None until sampled


@dataclass(frozen=True)
class RolloutProgress:
    """The newest rollout and its targets per state (the one a dashboard shows)."""

    version: str
    state: str
    active: bool
    targets: dict[str, int]


@dataclass(frozen=True)
class IncidentKindTotals:
    kind: str
    occurrences: int
    open: int


@dataclass(frozen=True)
class KindTotals:
    """Lifecycle events of one kind: how many, their summed duration, and per bucket
    bound (cumulative, Prometheus-style) how many took at most that long."""

    kind: str
    count: int
    timed: int  # how many of them have a duration
    duration_sum: float
    buckets: dict[float, int]


@dataclass(frozen=True)
class FleetSnapshot:
    groups: Sequence[TenantGroup]
    tenants: Sequence[LiveTenant]
    incidents: Sequence[IncidentKindTotals]
    rollout: RolloutProgress | None = None
    lifecycle: Sequence[KindTotals] = ()


class MetricsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def snapshot(self) -> FleetSnapshot:
        """Every query of one scrape, in one read-only REPEATABLE READ transaction.

        One snapshot keeps the families consistent with each other (the by-state
        counts add up to the per-tenant series). Must be called on a fresh session.
        """
        await self.session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
        return FleetSnapshot(
            groups=await self.tenant_groups(),
            tenants=await self.live_tenants(),
            incidents=await self.incident_totals(),
            rollout=await self.latest_rollout(),
            lifecycle=await self.lifecycle_totals(),
        )

    async def tenant_groups(self) -> list[TenantGroup]:
        """Tenant counts grouped by state, desired state, blueprint, liveness, provisioned.

        Deleted tenants are included (live=False) so the provisioned count keeps them.
        """
        live = Tenant.deleted_at.is_(None).label("live")
        provisioned = (Tenant.observed_generation >= 1).label("provisioned")
        stmt = select(
            Tenant.state,
            Tenant.desired_state,
            Tenant.blueprint_version,
            live,
            provisioned,
            func.count(),
            func.coalesce(func.sum(Tenant.restart_count), 0),
        ).group_by(Tenant.state, Tenant.desired_state, Tenant.blueprint_version, live, provisioned)
        rows = (await self.session.execute(stmt)).all()
        return [
            TenantGroup(
                state=state,
                desired_state=desired,
                blueprint_version=version,
                live=bool(is_live),
                provisioned=bool(is_provisioned),
                count=int(n),
                restarts=int(restarts),
            )
            for state, desired, version, is_live, is_provisioned, n, restarts in rows
        ]

    async def live_tenants(self) -> list[LiveTenant]:
        """The columns the per-tenant series need, for every live tenant, with the
        latest measured usage of those that run."""
        stmt = (
            select(
                Tenant.slug,
                Tenant.state,
                Tenant.restart_count,
                Tenant.cpu,
                Tenant.memory_mb,
                TenantUsage.cpu_cores,
                TenantUsage.memory_bytes,
            )
            .outerjoin(TenantUsage, TenantUsage.tenant_id == Tenant.id)
            .where(Tenant.deleted_at.is_(None))
            .order_by(Tenant.slug)
        )
        rows = (await self.session.execute(stmt)).all()
        return [
            LiveTenant(
                slug=s,
                state=st,
                restart_count=int(rc),
                cpu=float(c),
                memory_mb=int(m),
                cpu_used=None if cu is None else float(cu),
                memory_used=None if mu is None else int(mu),
            )
            for s, st, rc, c, m, cu, mu in rows
        ]

    async def lifecycle_totals(self) -> list[KindTotals]:
        """Counts, duration sums and histogram buckets of the counted event kinds: one
        aggregate over tenant_events (deleted tenants' events included) plus the
        totals of pruned events (tenant_event_rollup), so a prune changes nothing.

        Durations are summed as NUMERIC, exactly, on both sides: live + rollup is then
        the same number however the events are split between them (a float sum
        depends on the order of its additions)."""
        dur = TenantEvent.duration_seconds
        stmt = (
            select(
                TenantEvent.kind,
                func.count(),
                func.count(dur),
                func.coalesce(func.sum(cast(dur, Numeric)), 0),
                *(func.count().filter(dur <= b) for b in BOUNDS),
            )
            .where(TenantEvent.kind.in_(COUNTED_KINDS))
            .group_by(TenantEvent.kind)
        )
        live = {row[0]: row for row in (await self.session.execute(stmt)).all()}
        rolled = {
            r.kind: r
            for r in (
                await self.session.execute(
                    select(TenantEventRollup).where(TenantEventRollup.kind.in_(COUNTED_KINDS))
                )
            ).scalars()
        }
        totals = []
        for kind in sorted(live.keys() | rolled.keys()):
            row, r = live.get(kind), rolled.get(kind)
            totals.append(
                KindTotals(
                    kind=kind,
                    count=(int(row[1]) if row else 0) + (r.count if r else 0),
                    timed=(int(row[2]) if row else 0) + (r.timed if r else 0),
                    duration_sum=float(
                        Decimal(row[3] if row else 0) + Decimal(r.duration_sum if r else 0)
                    ),
                    buckets={
                        b: (int(row[4 + i]) if row else 0)
                        + (rolled_bucket(r.buckets, b) if r else 0)
                        for i, b in enumerate(BOUNDS)
                    },
                )
            )
        return totals

    async def latest_rollout(self) -> RolloutProgress | None:
        rollout = (
            await self.session.execute(select(Rollout).order_by(Rollout.created_at.desc()).limit(1))
        ).scalar_one_or_none()
        if rollout is None:
            return None
        stmt = (
            select(RolloutTarget.state, func.count())
            .where(RolloutTarget.rollout_id == rollout.id)
            .group_by(RolloutTarget.state)
        )
        counts = {state: int(n) for state, n in (await self.session.execute(stmt)).all()}
        return RolloutProgress(rollout.blueprint_version, rollout.state, rollout.active, counts)

    async def incident_totals(self) -> list[IncidentKindTotals]:
        """Per kind: all occurrences ever, and incidents still open on live tenants."""
        open_ = func.count().filter(Incident.resolved_at.is_(None), Tenant.deleted_at.is_(None))
        stmt = (
            select(Incident.kind, func.coalesce(func.sum(Incident.occurrences), 0), open_)
            .join(Tenant, Tenant.id == Incident.tenant_id)
            .group_by(Incident.kind)
        )
        rows = (await self.session.execute(stmt)).all()
        return [
            IncidentKindTotals(kind=kind, occurrences=int(total), open=int(n))
            for kind, total, n in rows
        ]
