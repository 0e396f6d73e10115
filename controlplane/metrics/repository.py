"""All metrics queries: a constant number of aggregate reads, whatever the fleet size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.models import Incident, Rollout, RolloutTarget, Tenant


@dataclass(frozen=True)
class TenantGroup:
    """How many tenants share one combination of the fleet-level attributes."""

    state: str
    desired_state: str
    blueprint_version: str
    live: bool
    provisioned: bool
    count: int


@dataclass(frozen=True)
class LiveTenant:
    slug: str
    state: str
    restart_count: int
    cpu: float
    memory_mb: int


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
class FleetSnapshot:
    groups: Sequence[TenantGroup]
    tenants: Sequence[LiveTenant]
    incidents: Sequence[IncidentKindTotals]
    rollout: RolloutProgress | None = None


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
            )
            for state, desired, version, is_live, is_provisioned, n in rows
        ]

    async def live_tenants(self) -> list[LiveTenant]:
        """The columns the per-tenant series need, for every live tenant."""
        stmt = (
            select(Tenant.slug, Tenant.state, Tenant.restart_count, Tenant.cpu, Tenant.memory_mb)
            .where(Tenant.deleted_at.is_(None))
            .order_by(Tenant.slug)
        )
        rows = (await self.session.execute(stmt)).all()
        return [
            LiveTenant(slug=s, state=st, restart_count=int(rc), cpu=float(c), memory_mb=int(m))
            for s, st, rc, c, m in rows
        ]

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
