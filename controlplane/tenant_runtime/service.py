"""Runtime token rules: issue one per container, keep only the serving one, revoke on delete.

The provisioner issues a token right before it creates a container and puts its id
on the container as a label. Once a container serves, every other token of the
tenant is revoked, so a recreate (new container) rotates the token and the old one
stops working; a restart of the same container keeps its token.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.models import RuntimeToken
from controlplane.tenant_runtime import tokens
from controlplane.tenant_runtime.repository import RuntimeTokenRepository


@dataclass(frozen=True)
class RuntimeIdentity:
    tenant_id: uuid.UUID
    slug: str
    token_id: str


async def issue(session: AsyncSession, *, tenant_id: uuid.UUID) -> tokens.NewToken:
    """A new live token for one of the tenant's containers (only its hash is stored)."""
    new = tokens.generate()
    RuntimeTokenRepository(session).add(
        RuntimeToken(id=new.token_id, tenant_id=tenant_id, token_hash=new.digest)
    )
    await session.flush()
    return new


async def keep_only(session: AsyncSession, *, tenant_id: uuid.UUID, keep: str | None) -> int:
    """Revoke every token of the tenant but the serving container's (`keep`)."""
    return await RuntimeTokenRepository(session).revoke(tenant_id, keep=keep)


async def discard(session: AsyncSession, *, token_id: str) -> None:
    """Revoke a token whose container never served (it was removed)."""
    await RuntimeTokenRepository(session).revoke_one(token_id)


async def revoke_all(session: AsyncSession, *, tenant_id: uuid.UUID) -> int:
    return await RuntimeTokenRepository(session).revoke(tenant_id)


async def authenticate(session: AsyncSession, *, token: str) -> RuntimeIdentity | None:
    """The tenant a runtime token belongs to, or None if it is malformed, revoked or gone."""
    token_id = tokens.token_id_of(token)
    if token_id is None:
        return None
    row = await RuntimeTokenRepository(session).credentials(token_id)
    if row is None or not tokens.matches(token, row[0]):
        return None
    return RuntimeIdentity(tenant_id=row[1], slug=row[2], token_id=token_id)
