"""All tenant and secret queries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, any_, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.db import uuid_array
from controlplane.models import Plan, Tenant, TenantSecret
from controlplane.models.base import utcnow


class TenantRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_live(self, slug: str, *, for_update: bool = False) -> Tenant | None:
        """The tenant with this slug that has not finished deletion."""
        stmt = select(Tenant).where(Tenant.slug == slug, Tenant.deleted_at.is_(None))
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get(self, tenant_id: uuid.UUID, *, for_update: bool = False) -> Tenant | None:
        stmt = select(Tenant).where(Tenant.id == tenant_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def page(
        self,
        *,
        limit: int,
        state: str | None = None,
        after: tuple[datetime, uuid.UUID] | None = None,
    ) -> Sequence[Tenant]:
        """Live tenants ordered by (created_at, id), keyset-paginated."""
        stmt: Select[Tenant] = select(Tenant).where(Tenant.deleted_at.is_(None))
        if state is not None:
            stmt = stmt.where(Tenant.state == state)
        if after is not None:
            stmt = stmt.where(tuple_(Tenant.created_at, Tenant.id) > tuple_(*after))
        stmt = stmt.order_by(Tenant.created_at, Tenant.id).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()

    async def lagging(self, *, stale_before: datetime, limit: int = 500) -> Sequence[Tenant]:
        """Live tenants whose observed state has not caught up with the desired state.

        `stale_before` skips rows touched very recently, whose task is still in flight.
        """
        stmt = (
            select(Tenant)
            .where(
                Tenant.deleted_at.is_(None),
                Tenant.state.in_(("pending", "provisioning", "deleting")),
                Tenant.state_changed_at < stale_before,
            )
            .order_by(Tenant.state_changed_at)
            .limit(limit)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def secret_names(self, tenant_id: uuid.UUID) -> list[str]:
        stmt = (
            select(TenantSecret.name)
            .where(TenantSecret.tenant_id == tenant_id)
            .order_by(TenantSecret.name)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def secret_names_for(self, tenant_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
        if not tenant_ids:
            return {}
        stmt = (
            select(TenantSecret.tenant_id, TenantSecret.name)
            .where(TenantSecret.tenant_id == any_(uuid_array(tenant_ids)))
            .order_by(TenantSecret.name)
        )
        out: dict[uuid.UUID, list[str]] = {tid: [] for tid in tenant_ids}
        for tid, name in (await self.session.execute(stmt)).all():
            out[tid].append(name)
        return out

    async def secrets(self, tenant_id: uuid.UUID) -> Sequence[TenantSecret]:
        stmt = (
            select(TenantSecret)
            .where(TenantSecret.tenant_id == tenant_id)
            .order_by(TenantSecret.name)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def secrets_for(self, tenant_ids: Sequence[uuid.UUID]) -> Sequence[TenantSecret]:
        """Every secret of these tenants, in one query (for the leak scan)."""
        if not tenant_ids:
            return []
        stmt = select(TenantSecret).where(TenantSecret.tenant_id.in_(tenant_ids))
        return (await self.session.execute(stmt)).scalars().all()

    async def secret(self, tenant_id: uuid.UUID, name: str) -> TenantSecret | None:
        stmt = select(TenantSecret).where(
            TenantSecret.tenant_id == tenant_id, TenantSecret.name == name
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    def add(self, obj: Tenant | TenantSecret) -> None:
        self.session.add(obj)

    async def delete_secret(self, secret: TenantSecret) -> None:
        await self.session.delete(secret)

    async def set_observed(
        self,
        tenant_id: uuid.UUID,
        *,
        generation: int,
        state: str,
        reason: str | None,
        container_id: str | None = None,
        container_name: str | None = None,
        observed_generation: int | None = None,
        observed_restarts: int | None = None,
        clear_container: bool = False,
    ) -> bool:
        """Record what the provisioner saw, unless the desired state moved on meanwhile.

        The generation check is the fence: a task that acted on an old generation
        must not overwrite the result of the newer one.
        """
        values: dict[str, object] = {
            "state": state,
            "state_reason": reason,
            "state_changed_at": utcnow(),
        }
        if container_id is not None or clear_container or state in ("failed",):
            values["container_id"] = container_id
            values["container_name"] = container_name
        if observed_generation is not None:
            values["observed_generation"] = observed_generation
        if observed_restarts is not None:
            values["observed_restarts"] = observed_restarts
        stmt = (
            update(Tenant)
            .where(
                Tenant.id == tenant_id,
                Tenant.generation == generation,
                Tenant.desired_state == "running",
                Tenant.deleted_at.is_(None),
                # Only an operator's restart (which bumps the generation) lifts a
                # crash loop; a task from before it must not.
                Tenant.state != "degraded",
            )
            .values(**values)
        )
        result = await self.session.execute(stmt)
        if result.rowcount:  # type: ignore[attr-defined]
            await self.notify_changed(tenant_id)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def set_paused(self, tenant_id: uuid.UUID, *, generation: int, mode: str) -> bool:
        """Record that the tenant's container is frozen or stopped, fenced like set_observed."""
        result = await self.session.execute(
            update(Tenant)
            .where(
                Tenant.id == tenant_id,
                Tenant.generation == generation,
                Tenant.desired_state == "paused",
                Tenant.deleted_at.is_(None),
                Tenant.state != "degraded",
            )
            .values(state="paused", state_reason=f"paused ({mode})", state_changed_at=utcnow())
        )
        if result.rowcount:  # type: ignore[attr-defined]
            await self.notify_changed(tenant_id)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def request_pause(self, tenant_id: uuid.UUID) -> bool:
        """Desire `paused` for a running tenant. False if it is not running (any more)."""
        result = await self.session.execute(
            update(Tenant)
            .where(
                Tenant.id == tenant_id,
                Tenant.desired_state == "running",
                Tenant.state == "running",
                Tenant.deleted_at.is_(None),
            )
            .values(desired_state="paused")
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def request_wake(self, tenant_id: uuid.UUID) -> bool:
        """Desire `running` for a paused (or pausing) tenant. False if it was not paused."""
        result = await self.session.execute(
            update(Tenant)
            .where(
                Tenant.id == tenant_id,
                Tenant.desired_state == "paused",
                Tenant.deleted_at.is_(None),
            )
            .values(desired_state="running", last_active_at=utcnow())
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def idle_candidates(
        self, *, pause_modes: Sequence[str] | None = None
    ) -> Sequence[tuple[Tenant, int]]:
        """Running tenants whose plan pauses idle tenants, with the plan's idle_after
        (only plans pausing in one of `pause_modes`, when given)."""
        stmt = (
            select(Tenant, Plan.idle_after)
            .join(Plan, Plan.name == Tenant.plan)
            .where(
                Tenant.deleted_at.is_(None),
                Tenant.desired_state == "running",
                Tenant.state == "running",
                Plan.idle_after.is_not(None),
            )
        )
        if pause_modes is not None:
            stmt = stmt.where(Plan.pause_mode.in_(pause_modes))
        rows = (await self.session.execute(stmt)).all()
        return [(t, idle) for t, idle in rows if idle is not None]

    async def set_last_active(self, seen: dict[uuid.UUID, datetime]) -> None:
        """Move last_active_at forward (never back) for the tenants in `seen`, in one
        statement whatever the fleet size."""
        if not seen:
            return
        await self.session.execute(
            text(
                "UPDATE tenants AS t SET last_active_at = v.at "
                "FROM unnest(CAST(:ids AS uuid[]), CAST(:ats AS timestamptz[])) AS v(id, at) "
                "WHERE t.id = v.id AND (t.last_active_at IS NULL OR t.last_active_at < v.at)"
            ),
            {"ids": list(seen), "ats": list(seen.values())},
        )

    async def mark_deleted(self, tenant_id: uuid.UUID) -> None:
        await self.session.execute(
            update(Tenant)
            .where(Tenant.id == tenant_id, Tenant.desired_state == "deleted")
            .values(
                state="deleted",
                state_reason=None,
                deleted_at=utcnow(),
                state_changed_at=utcnow(),
                container_id=None,
                container_name=None,
            )
        )
        await self.notify_changed(tenant_id)

    async def all_live(self) -> Sequence[Tenant]:
        """Every tenant that exists (the reconciler's view of desired state)."""
        stmt = select(Tenant).where(Tenant.deleted_at.is_(None))
        return (await self.session.execute(stmt)).scalars().all()

    async def begin_upgrade(self, tenant_id: uuid.UUID, *, generation: int, to: str) -> bool:
        """Desire version `to` for a rollout step; fenced like every observed write."""
        result = await self.session.execute(
            update(Tenant)
            .where(
                Tenant.id == tenant_id,
                Tenant.generation == generation,
                Tenant.desired_state == "running",
                Tenant.deleted_at.is_(None),
                Tenant.state.in_(("running", "upgrading")),
            )
            .values(
                blueprint_version=to,
                state="upgrading",
                state_reason=None,
                state_changed_at=utcnow(),
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def end_upgrade(
        self,
        tenant_id: uuid.UUID,
        *,
        generation: int,
        version: str,
        reason: str | None,
        container_id: str | None,
        container_name: str | None,
        restarts: int | None,
    ) -> bool:
        """Record a rollout step's result: on `version`, running, with its container."""
        values: dict[str, object] = {
            "blueprint_version": version,
            "state": "running",
            "state_reason": reason,
            "state_changed_at": utcnow(),
            "observed_generation": generation,
        }
        if container_id is not None:
            values.update(container_id=container_id, container_name=container_name)
        if restarts is not None:
            values["observed_restarts"] = restarts
        result = await self.session.execute(
            update(Tenant)
            .where(
                Tenant.id == tenant_id, Tenant.generation == generation, Tenant.state == "upgrading"
            )
            .values(**values)
        )
        await self.notify_changed(tenant_id)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def notify_changed(self, tenant_id: uuid.UUID) -> None:
        """Wake API waiters once this transaction commits (see tenants/changes.py)."""
        await self.session.execute(
            text("SELECT pg_notify('berth_tenant', :id)"), {"id": str(tenant_id)}
        )
