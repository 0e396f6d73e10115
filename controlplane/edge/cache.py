"""Which tenant a host names, and its state, without a database query per request.

Entries are filled from PostgreSQL on a miss and dropped the moment the tenant
changes (LISTEN/NOTIFY through TenantChanges). A TTL bounds the damage of a lost
notification, and nothing is cached while the listener is down.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from controlplane.tenants.changes import TenantChanges
from controlplane.tenants.repository import TenantRepository

TTL_SECONDS = 5.0
NEGATIVE_TTL_SECONDS = 2.0
MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class GateEntry:
    tenant_id: str
    slug: str
    state: str
    desired_state: str

    @property
    def paused(self) -> bool:
        return self.state == "paused" or self.desired_state == "paused"


class GateCache:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], changes: TenantChanges
    ) -> None:
        self.sessionmaker = sessionmaker
        self.changes = changes
        self._entries: dict[str, tuple[float, GateEntry | None]] = {}
        self._slug_of: dict[str, str] = {}
        # Bumped on every invalidation: a row read while a change arrived is not cached.
        self._epoch = 0
        changes.subscribe(self._invalidate)

    def _invalidate(self, tenant_id: str | None) -> None:
        self._epoch += 1
        if tenant_id is None:
            self._entries.clear()
            self._slug_of.clear()
            return
        slug = self._slug_of.pop(tenant_id, None)
        if slug is not None:
            self._entries.pop(slug, None)

    async def lookup(self, slug: str) -> GateEntry | None:
        now = time.monotonic()
        hit = self._entries.get(slug)
        if hit is not None and hit[0] > now:
            return hit[1]
        epoch = self._epoch
        async with self.sessionmaker() as session:
            tenant = await TenantRepository(session).get_live(slug)
        entry = (
            None
            if tenant is None
            else GateEntry(str(tenant.id), tenant.slug, tenant.state, tenant.desired_state)
        )
        if await self.changes.listening() and epoch == self._epoch:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
                self._slug_of.clear()
            ttl = TTL_SECONDS if entry is not None else NEGATIVE_TTL_SECONDS
            self._entries[slug] = (now + ttl, entry)
            if entry is not None:
                self._slug_of[entry.tenant_id] = slug
        return entry

    def drop(self, tenant_id: uuid.UUID | str) -> None:
        self._invalidate(str(tenant_id))
