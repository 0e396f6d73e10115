"""Creating and revoking API keys (admin only), each audited."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.audit.service import record
from controlplane.context import Actor
from controlplane.errors import NotFound
from controlplane.models import ApiKey
from controlplane.models.base import utcnow
from controlplane.security import keys
from controlplane.security.repository import ApiKeyRepository
from controlplane.security.schemas import ApiKeyCreate


async def create(session: AsyncSession, *, actor: Actor, data: ApiKeyCreate) -> tuple[ApiKey, str]:
    """Make a key; returns the row and the plaintext key (which is not stored)."""
    new = keys.generate()
    key = ApiKey(
        id=new.key_id,
        name=data.name,
        scopes=list(data.scopes),
        key_hash=new.digest,
        created_by=actor.key_id,
    )
    ApiKeyRepository(session).add(key)
    await session.flush()
    record(
        session,
        actor=actor.key_id,
        request_id=actor.request_id,
        action="api_key.create",
        target=f"api_key:{key.id}",
        detail={"name": data.name, "scopes": list(data.scopes)},
    )
    return key, new.token


async def get(session: AsyncSession, *, key_id: str) -> ApiKey:
    key = await ApiKeyRepository(session).get(key_id)
    if key is None:
        raise NotFound(f"API key '{key_id}' not found")
    return key


async def list_all(session: AsyncSession) -> Sequence[ApiKey]:
    return await ApiKeyRepository(session).all()


async def revoke(session: AsyncSession, *, actor: Actor, key_id: str) -> ApiKey:
    """Revoke a key; it is refused (401) from the next request on. Idempotent."""
    key = await ApiKeyRepository(session).get(key_id, for_update=True)
    if key is None:
        raise NotFound(f"API key '{key_id}' not found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        record(
            session,
            actor=actor.key_id,
            request_id=actor.request_id,
            action="api_key.revoke",
            target=f"api_key:{key.id}",
            detail={"name": key.name},
        )
    return key
