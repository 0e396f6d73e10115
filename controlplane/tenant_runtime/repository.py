"""All runtime token queries."""

from __future__ import annotations

import uuid

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.models import RuntimeToken, Tenant
from controlplane.models.base import utcnow


class RuntimeTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, token: RuntimeToken) -> None:
        self.session.add(token)

    async def credentials(self, token_id: str) -> Row[str, uuid.UUID, str] | None:
        """Hash, tenant id and slug of a live token of a live tenant, by primary key."""
        stmt = (
            select(RuntimeToken.token_hash, Tenant.id, Tenant.slug)
            .join(Tenant, Tenant.id == RuntimeToken.tenant_id)
            .where(
                RuntimeToken.id == token_id,
                RuntimeToken.revoked_at.is_(None),
                Tenant.deleted_at.is_(None),
                Tenant.desired_state != "deleted",
            )
        )
        return (await self.session.execute(stmt)).one_or_none()

    async def revoke(self, tenant_id: uuid.UUID, *, keep: str | None = None) -> int:
        """Revoke every live token of the tenant except `keep`; returns how many."""
        stmt = update(RuntimeToken).where(
            RuntimeToken.tenant_id == tenant_id, RuntimeToken.revoked_at.is_(None)
        )
        if keep is not None:
            stmt = stmt.where(RuntimeToken.id != keep)
        result = await self.session.execute(stmt.values(revoked_at=utcnow()))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def revoke_one(self, token_id: str) -> None:
        await self.session.execute(
            update(RuntimeToken)
            .where(RuntimeToken.id == token_id, RuntimeToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
