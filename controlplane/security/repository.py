"""All API key queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Row, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.models import ApiKey

# last_used_at is bookkeeping, not an access log: write it at most this often per key.
TOUCH_INTERVAL = timedelta(seconds=60)


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, key: ApiKey) -> None:
        self.session.add(key)

    async def credentials(
        self, key_id: str
    ) -> Row[list[str], str, datetime | None, datetime | None] | None:
        """What authentication needs, by primary key: scopes, hash, last use, revocation."""
        stmt = select(ApiKey.scopes, ApiKey.key_hash, ApiKey.last_used_at, ApiKey.revoked_at).where(
            ApiKey.id == key_id
        )
        return (await self.session.execute(stmt)).one_or_none()

    async def touch(self, key_id: str) -> None:
        """Set last_used_at = now(), unless another request did within the interval."""
        await self.session.execute(
            update(ApiKey)
            .where(
                ApiKey.id == key_id,
                or_(
                    ApiKey.last_used_at.is_(None),
                    ApiKey.last_used_at < func.now() - TOUCH_INTERVAL,
                ),
            )
            .values(last_used_at=func.now())
        )

    async def get(self, key_id: str, *, for_update: bool = False) -> ApiKey | None:
        stmt = select(ApiKey).where(ApiKey.id == key_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def all(self) -> Sequence[ApiKey]:
        stmt = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
        return (await self.session.execute(stmt)).scalars().all()
