"""What the dashboard pages show, assembled from the repository; actions call the
same services as the API, so the rules (and the audit log) are the same."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.context import Actor
from controlplane.dashboard.repository import DashboardRepository, TenantRow
from controlplane.errors import NotFound
from controlplane.metrics.collector import TENANT_STATES
from controlplane.models import Incident, Rollout, Tenant, TenantUsage
from controlplane.rollouts import service as rollouts
from controlplane.rollouts.repository import RolloutRepository
from controlplane.rollouts.schemas import DeployRequest, Selector
from controlplane.tenants import service as tenants

FINISHED_TARGETS = ("done", "failed", "skipped")


@dataclass(frozen=True)
class RolloutView:
    rollout: Rollout
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def finished(self) -> int:
        return sum(self.counts.get(s, 0) for s in FINISHED_TARGETS)

    @property
    def percent(self) -> int:
        return 100 if self.total == 0 else round(100 * self.finished / self.total)


@dataclass(frozen=True)
class FleetView:
    tenants: list[TenantRow]
    by_state: list[tuple[str, int]]
    versions: list[tuple[str, int]]
    rollout: RolloutView | None
    incidents: list[Incident]
    blueprint_versions: list[str]


@dataclass(frozen=True)
class TenantView:
    tenant: Tenant
    usage: TenantUsage | None
    incidents: list[Incident]


async def fleet(session: AsyncSession) -> FleetView:
    """The fleet page: five queries whatever the fleet size."""
    repo = DashboardRepository(session)
    rows = await repo.tenant_rows()
    states = Counter(r.state for r in rows)
    by_state = [(s, states[s]) for s in TENANT_STATES] + sorted(
        (s, n) for s, n in states.items() if s not in TENANT_STATES
    )
    versions = sorted(Counter(r.version for r in rows).items())
    latest = await repo.latest_rollout()
    view = None
    if latest is not None:
        view = RolloutView(latest, await RolloutRepository(session).counts(latest.id))
    return FleetView(
        tenants=rows,
        by_state=by_state,
        versions=versions,
        rollout=view,
        incidents=list(await repo.incidents(limit=20)),
        blueprint_versions=await repo.blueprint_versions(),
    )


async def tenant(session: AsyncSession, *, slug: str) -> TenantView:
    repo = DashboardRepository(session)
    found = await repo.tenant(slug)
    if found is None:
        raise NotFound(f"tenant '{slug}' not found")
    return TenantView(
        tenant=found,
        usage=await repo.usage(found.id),
        incidents=list(await repo.incidents(tenant_id=found.id, limit=50)),
    )


ACTIONS = {"pause": tenants.pause, "resume": tenants.resume, "restart": tenants.restart}


async def act(session: AsyncSession, *, actor: Actor, slug: str, action: str) -> dict[str, Any]:
    """Pause, resume or restart a tenant; the JSON the page shows as the result."""
    done = await ACTIONS[action](session, actor=actor, slug=slug)
    return {
        "slug": done.slug,
        "action": action,
        "state": done.state,
        "desired_state": done.desired_state,
        "message": f"{action} of {done.slug} accepted (desired: {done.desired_state})",
    }


async def start_rollout(
    session: AsyncSession, *, actor: Actor, version: str, slugs: list[str] | None
) -> dict[str, Any]:
    """Roll `version` out to every tenant (or only `slugs`) with the API's default waves."""
    selector = Selector() if not slugs else Selector(slugs=slugs)
    rollout = await rollouts.start_deploy(
        session, actor=actor, version=version, data=DeployRequest(selector=selector)
    )
    counts = await RolloutRepository(session).counts(rollout.id)
    return {
        "id": str(rollout.id),
        "version": rollout.blueprint_version,
        "state": rollout.state,
        "counts": counts,
        "message": f"rollout of version {version} to {sum(counts.values())} tenants started",
    }
