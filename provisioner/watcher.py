"""The events watcher: Docker events for Berth's containers → incidents, in about a second.

It is the fast path only. Events can be lost (engine restart, watcher down) or
duplicated (Docker reports an OOM kill twice); the reconciler repairs whatever the
watcher misses, and recording is idempotent, so neither loss nor repetition hurts.

Run it with `python -m provisioner.watcher`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

import structlog

from controlplane.incidents import service as incidents
from controlplane.logging import configure_logging
from controlplane.settings import get_settings
from controlplane.tenants.repository import TenantRepository
from provisioner.context import WorkerContext, build_context
from provisioner.runtime.base import RuntimeBackendError
from provisioner.spec import LABEL_INSTANCE, LABEL_TENANT_ID

log = structlog.get_logger(__name__)

Enqueue = Callable[[str, float], None]


def _enqueue_converge(tenant_id: str, countdown: float) -> None:
    from provisioner.tasks import converge_tenant

    converge_tenant.apply_async(args=(tenant_id,), countdown=countdown)


async def handle_event(ctx: WorkerContext, event: dict[str, Any], enqueue: Enqueue) -> str | None:
    """Apply one Docker event. Returns what it did (for logs and tests)."""
    action: str = event.get("Action") or event.get("status") or ""
    actor = event.get("Actor") or {}
    attrs: dict[str, str] = actor.get("Attributes") or {}
    container_id: str = actor.get("ID") or event.get("id") or ""
    tenant_id = attrs.get(LABEL_TENANT_ID)
    if not tenant_id or attrs.get(LABEL_INSTANCE) != ctx.settings.instance:
        return None
    if action == "die" and await asyncio.to_thread(ctx.is_expected_stop, container_id):
        return "expected-stop"

    async with ctx.sessionmaker() as session:
        tenant = await TenantRepository(session).get(uuid.UUID(tenant_id), for_update=True)
        if tenant is None or tenant.deleted_at is not None or tenant.desired_state != "running":
            return None
        if tenant.container_id != container_id:
            return None  # a container being provisioned or replaced: its task owns it
        done: str | None = None
        if action == "oom":
            rec = await incidents.record_failure(
                session, tenant=tenant, kind="oom", container_id=container_id
            )
            done = "oom" if rec.new else "oom-duplicate"
        elif action == "die":
            exit_code = int(attrs.get("exitCode", "0") or 0)
            rec = await incidents.record_failure(
                session,
                tenant=tenant,
                kind="crash",
                container_id=container_id,
                exit_code=exit_code,
            )
            done = rec.incident.kind if rec.new else f"{rec.incident.kind}-exit"
            tenant.health = "down"
            if tenant.state == "running" and await incidents.in_crash_loop(
                session,
                tenant=tenant,
                threshold=ctx.settings.crashloop_threshold,
                window=ctx.settings.crashloop_window,
            ):
                await incidents.open_crash_loop(
                    session, tenant=tenant, threshold=ctx.settings.crashloop_threshold
                )
                done = "crashloop"
        elif action.startswith("health_status"):
            status = action.partition(":")[2].strip()
            tenant.health = status
            if status == "healthy":
                await incidents.resolve_recovered(session, tenant=tenant)
                done = "healthy"
            elif status == "unhealthy":
                await incidents.record_failure(
                    session, tenant=tenant, kind="unhealthy", container_id=container_id
                )
                done = "unhealthy"
        elif action == "start":
            # Docker's restart policy brought it back after an oom/die this watcher has
            # recorded: account the restart here, or the reconciler would count it as
            # missed and open a second incident once the dedupe window has passed.
            info = await asyncio.to_thread(ctx.backend.inspect, container_id)
            if info is not None and info.restart_count > tenant.observed_restarts:
                tenant.observed_restarts = info.restart_count
            done = "start"
        failures_for_backoff = tenant.restart_count
        degraded = tenant.state == "degraded"
        await session.commit()

    if done == "crashloop":
        # Stop it so Docker's restart policy does not carry on; only an operator's
        # restart brings it back.
        await asyncio.to_thread(ctx.expect_stop, [container_id])
        with contextlib.suppress(RuntimeBackendError):
            await asyncio.to_thread(ctx.backend.stop, container_id)
    elif action == "die" and not degraded:
        # Docker restarts it at once if its policy allows; if not (retries spent, or
        # a clean exit), the converge task after this backoff starts it again.
        delay = incidents.backoff_seconds(
            failures_for_backoff,
            base=ctx.settings.restart_backoff_base,
            cap=ctx.settings.restart_backoff_max,
        )
        enqueue(tenant_id, delay)
    return done


class Watcher:
    """Consume the engine's event stream, reconnecting (with replay) when it drops."""

    def __init__(self, ctx: WorkerContext, enqueue: Enqueue = _enqueue_converge) -> None:
        self.ctx = ctx
        self.enqueue = enqueue
        self.stopping = threading.Event()
        self.last_time: float | None = None
        self.handled: list[str] = []
        # Reconnects replay from the last second seen; skip events already handled.
        self._seen: deque[tuple[Any, ...]] = deque(maxlen=4096)
        self._seen_set: set[tuple[Any, ...]] = set()

    def _pump(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any]) -> None:
        labels = {LABEL_INSTANCE: self.ctx.settings.instance}
        backoff = 0.5
        while not self.stopping.is_set():
            try:
                stream = self.ctx.backend.events(labels, since=self.last_time)
                loop.call_soon_threadsafe(queue.put_nowait, {"_connected": True})
                backoff = 0.5
                for event in stream:
                    if self.stopping.is_set():
                        return
                    loop.call_soon_threadsafe(queue.put_nowait, event)
            except RuntimeBackendError as exc:
                log.warning("events_stream_lost", error=str(exc))
            except Exception as exc:  # noqa: BLE001 - keep watching whatever the SDK raises
                log.warning("events_stream_error", error_type=type(exc).__name__)
            if self.stopping.wait(backoff):
                return
            backoff = min(backoff * 2, 10.0)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        pump = threading.Thread(target=self._pump, args=(loop, queue), daemon=True)
        pump.start()
        log.info("watcher_started", instance=self.ctx.settings.instance)
        while not self.stopping.is_set():
            try:
                event = await asyncio.wait_for(queue.get(), timeout=0.5)
            except TimeoutError:
                continue
            if "_connected" in event:
                log.info("events_stream_connected", since=self.last_time)
                continue
            key = (event.get("timeNano"), (event.get("Actor") or {}).get("ID"), event.get("Action"))
            if key in self._seen_set:
                continue
            if len(self._seen) == self._seen.maxlen:
                self._seen_set.discard(self._seen[0])
            self._seen.append(key)
            self._seen_set.add(key)
            self.last_time = float(event.get("time") or time.time())
            try:
                done = await handle_event(self.ctx, event, self.enqueue)
            except Exception:  # noqa: BLE001 - one bad event must not stop the watcher
                log.exception("event_failed", action=event.get("Action"))
                continue
            if done:
                self.handled.append(done)
                log.info(
                    "event_handled",
                    action=event.get("Action"),
                    result=done,
                    container=(event.get("Actor") or {}).get("ID", "")[:12],
                )

    def stop(self) -> None:
        self.stopping.set()


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    ctx = build_context(settings)
    watcher = Watcher(ctx)

    def on_signal(_signum: int, _frame: object) -> None:
        watcher.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    asyncio.run(_run(watcher, ctx))


async def _run(watcher: Watcher, ctx: WorkerContext) -> None:
    try:
        await watcher.run()
    finally:
        await ctx.engine.dispose()


if __name__ == "__main__":
    main()
