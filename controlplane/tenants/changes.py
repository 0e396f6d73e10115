"""Wake API requests when a tenant's observed state changes (PostgreSQL LISTEN/NOTIFY).

Workers NOTIFY on the `berth_tenant` channel in the same transaction that writes the
new state, so a waiter learns of it the moment it commits. Notifications are a hint:
waiters re-read the row, and fall back to polling once a second if the listener
connection is down, so a lost notification only costs latency.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog

CHANNEL = "berth_tenant"
ANY = "*"  # wait() on this key wakes on every tenant's notification
log = structlog.get_logger(__name__)


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class TenantChanges:
    """One LISTEN connection per API process, fanned out to per-tenant waiters."""

    def __init__(self, database_url: str, *, channel: str = CHANNEL) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.channel = channel
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._subscribers: list[Callable[[str | None], None]] = []

    def subscribe(self, callback: Callable[[str | None], None]) -> None:
        """Call `callback(tenant_id)` on every change, and `callback(None)` when the
        listener connection drops (changes may have been missed: drop all caches)."""
        self._subscribers.append(callback)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        for key in (payload, ANY):
            for event in self._waiters.get(key, ()):
                event.set()
        for callback in self._subscribers:
            callback(payload)

    def _on_lost(self, _conn: Any) -> None:
        for callback in self._subscribers:
            callback(None)

    async def listening(self) -> bool:
        """Connect the listener if needed; False while PostgreSQL cannot be reached."""
        return await self._ensure()

    async def _ensure(self) -> bool:
        if self._conn is not None and not self._conn.is_closed():
            return True
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                return True
            try:
                self._conn = await asyncpg.connect(self.dsn, timeout=3)
                await self._conn.add_listener(self.channel, self._on_notify)
                self._conn.add_termination_listener(self._on_lost)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("tenant_listener_unavailable", error_type=type(exc).__name__)
                self._conn = None
                return False
        return True

    async def wait(self, tenant_id: str, timeout: float) -> None:
        """Return when `tenant_id` (any tenant for ANY) may have changed, or after
        `timeout` (max 1 s)."""
        event = asyncio.Event()
        self._waiters[tenant_id].add(event)
        try:
            listening = await self._ensure()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(timeout, 1.0 if listening else 0.25))
        finally:
            self._waiters[tenant_id].discard(event)
            if not self._waiters[tenant_id]:
                self._waiters.pop(tenant_id, None)

    async def close(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            with contextlib.suppress(Exception):
                await self._conn.close()
