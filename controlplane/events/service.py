"""Server-sent event streams of tenant lifecycle events.

A stream first replays recent history (or everything after the client's
Last-Event-ID), then follows live: every new tenant_events row NOTIFYs
`berth_tenant_event` (migration 0007), which wakes the stream to read what is new.
A missed notification costs at most a second (TenantChanges.wait's cap).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from controlplane.events.repository import HISTORY, EventRepository
from controlplane.events.schemas import EventOut
from controlplane.tenants.changes import ANY, TenantChanges

EVENT_CHANNEL = "berth_tenant_event"
KEEPALIVE_SECONDS = 15.0
# Ids are drawn when a row is inserted, not when it commits: a transaction that
# commits late can land an id below one already sent. Each poll therefore also
# re-reads the last few seconds and sends what it has not sent yet.
LOOKBACK = timedelta(seconds=10)
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse(event: str, data: object, *, event_id: int | None = None) -> bytes:
    """One SSE message; with an id, a reconnecting EventSource resumes after it."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def last_event_id(header: str | None) -> int | None:
    """The Last-Event-ID a reconnecting client sent, if it is one of ours."""
    if header and header.strip().isdigit():
        return int(header.strip())
    return None


async def follow(
    maker: async_sessionmaker[AsyncSession],
    feed: TenantChanges,
    *,
    tenant_id: uuid.UUID | None,
    resume_after: int | None,
    disconnected: Callable[[], Awaitable[bool]],
    kinds: Sequence[str] = (),
    history: int = HISTORY,
) -> AsyncIterator[bytes]:
    """Lifecycle events of one tenant (or the fleet, tenant_id None) as SSE bytes.

    Without `resume_after`, a tenant stream starts with its `history` newest events
    and a fleet stream starts from now. Ends when the client disconnects.
    """
    async with maker() as s:
        repo = EventRepository(s)
        if resume_after is not None:
            backlog = list(await repo.after(tenant_id, resume_after, kinds=kinds))
        elif tenant_id is not None and history:
            backlog = await repo.recent(tenant_id, limit=history)
            if kinds:
                backlog = [e for e in backlog if e.kind in kinds]
        else:
            backlog = []
        if backlog:
            cursor = backlog[-1].id
        elif resume_after is not None:
            cursor = resume_after
        else:
            cursor = await repo.last_id()
        sent = await repo.seen_before(tenant_id, cursor, datetime.now(UTC) - LOOKBACK)
    for e in backlog:
        yield sse("lifecycle", EventOut.of(e).model_dump(mode="json"), event_id=e.id)
    # Tells the client the history is complete (the dashboard drops its "loading").
    yield sse("ready", {"cursor": cursor})
    quiet_since = time.monotonic()
    key = str(tenant_id) if tenant_id is not None else ANY
    sent.update({e.id: e.at for e in backlog})
    while not await disconnected():
        await feed.wait(key, KEEPALIVE_SECONDS)
        since = datetime.now(UTC) - LOOKBACK
        async with maker() as s:
            rows = await EventRepository(s).after(
                tenant_id, cursor, kinds=kinds, recent_since=since
            )
        fresh = [e for e in rows if e.id not in sent]
        for e in fresh:
            sent[e.id] = e.at
            cursor = max(cursor, e.id)
            yield sse("lifecycle", EventOut.of(e).model_dump(mode="json"), event_id=e.id)
        # Forget what the lookback can no longer return.
        sent = {i: at for i, at in sent.items() if at >= since - LOOKBACK}
        if fresh:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield b": keepalive\n\n"
