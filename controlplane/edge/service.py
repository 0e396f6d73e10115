"""Edge rules: resolve a request's host to a tenant, record activity, wake on demand."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass

import structlog

from controlplane.context import CONVERGE_TASK
from controlplane.edge.activity import ActivityRecorder
from controlplane.edge.cache import GateCache, GateEntry
from controlplane.queue import TaskQueue
from controlplane.tenants.changes import TenantChanges
from controlplane.tenants.repository import TenantRepository
from controlplane.validation import SLUG_RE
from provisioner.context import WorkerContext
from provisioner.power import request_wake, wake_now
from provisioner.snapshot import Outcome

log = structlog.get_logger(__name__)


def slug_from_host(host: str, domain: str) -> str | None:
    """`acme.example.com[:443]` -> `acme` when the domain is example.com, else None."""
    name = host.strip().lower().rstrip(".")
    if name.startswith("["):
        return None  # an IPv6 literal is never a tenant
    name = name.rsplit(":", 1)[0] if ":" in name else name
    suffix = "." + domain.lower()
    if not name.endswith(suffix):
        return None
    label = name[: -len(suffix)]
    return label if SLUG_RE.fullmatch(label) else None


@dataclass
class Edge:
    """Everything the edge routes need, built once per API process."""

    domain: str
    cache: GateCache
    activity: ActivityRecorder
    power: WorkerContext
    queue: TaskQueue
    changes: TenantChanges
    wake_timeout: float

    def __post_init__(self) -> None:
        # tenant id -> (the wake task, set once the tenant serves or the wake ended)
        self._waking: dict[str, tuple[asyncio.Task[bool], asyncio.Event]] = {}

    async def resolve(self, host: str) -> GateEntry | None:
        slug = slug_from_host(host, self.domain)
        return None if slug is None else await self.cache.lookup(slug)

    async def wake(self, entry: GateEntry, *, wait: float) -> bool:
        """Start waking `entry` (once per process however many requests ask) and wait
        up to `wait` seconds for it to serve. The wake goes on after a timeout."""
        tid = entry.tenant_id
        pending = self._waking.get(tid)
        if pending is None:
            serving = asyncio.Event()
            task = asyncio.get_running_loop().create_task(self._wake(entry, serving))

            def done(_: asyncio.Task[bool]) -> None:
                serving.set()
                self._waking.pop(tid, None)

            task.add_done_callback(done)
            pending = self._waking[tid] = (task, serving)
        task, serving = pending
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(serving.wait(), wait)
        if not serving.is_set():
            return False
        # Set early by a thaw (serving) or by the wake ending (its result says).
        if not task.done():
            return True
        return not task.cancelled() and task.exception() is None and task.result()

    async def _wake(self, entry: GateEntry, serving: asyncio.Event) -> bool:
        tenant_id = uuid.UUID(entry.tenant_id)
        started = time.monotonic()
        self.cache.drop(tenant_id)
        outcome = await wake_now(
            self.power, tenant_id, timeout=self.wake_timeout, actor="edge", on_serving=serving.set
        )
        self.cache.drop(tenant_id)
        if outcome is Outcome.RUNNING:
            log.info("edge_woke", tenant=entry.slug, seconds=round(time.monotonic() - started, 3))
            return True
        if outcome in (Outcome.GONE, Outcome.STALE):
            return False
        # The lock never came free, there is no container to thaw or start (its spec
        # changed while paused), or the fast path failed: a converge task provisions
        # it, and we wait for the result.
        await request_wake(self.power, tenant_id, actor="edge")
        await asyncio.to_thread(self.queue.send, CONVERGE_TASK, entry.tenant_id)
        return await self._wait_running(tenant_id, started + self.wake_timeout)

    async def _wait_running(self, tenant_id: uuid.UUID, deadline: float) -> bool:
        while True:
            async with self.power.sessionmaker() as session:
                tenant = await TenantRepository(session).get(tenant_id)
            if tenant is None or tenant.deleted_at is not None:
                return False
            if tenant.state == "running":
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await self.changes.wait(str(tenant_id), remaining)
