"""Per-process resources for the worker: one event loop, engine, backend and key.

Celery runs tasks on threads; they all submit coroutines to one background event
loop, so the process holds one connection pool instead of one per thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from controlplane.db import make_engine, make_sessionmaker
from controlplane.redis_client import redis_client
from controlplane.security.crypto import SecretBox
from controlplane.settings import Settings, get_settings
from provisioner.runtime.base import RuntimeBackend
from provisioner.runtime.factory import make_backend

T = TypeVar("T")

EXPECTED_STOP_PREFIX = "berth:expected-stop:"


@dataclass
class WorkerContext:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    backend: RuntimeBackend
    box: SecretBox
    redis: Redis[bytes]
    _http: httpx.AsyncClient | None = None

    def http(self) -> httpx.AsyncClient:
        """One HTTP client per process for health probes (building one costs ~50 ms)."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=1.0, verify=False, trust_env=False)
        return self._http

    def expect_stop(self, container_ids: list[str]) -> None:
        """Tell the events watcher that these containers stop on Berth's orders."""
        try:
            pipe = self.redis.pipeline()
            for cid in container_ids:
                pipe.setex(f"{EXPECTED_STOP_PREFIX}{cid}", 300, b"1")
            pipe.execute()
        except RedisError:
            # Without the marker the watcher may record a spurious crash; that is
            # noise, not harm, so a Redis outage must not block a removal.
            pass

    def is_expected_stop(self, container_id: str) -> bool:
        try:
            return bool(self.redis.exists(f"{EXPECTED_STOP_PREFIX}{container_id}"))
        except RedisError:
            return False


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        # Docker SDK calls run in this pool; the default (cores + 4) is too small
        # for a wave of tenants on a 2-core host.
        self.loop.set_default_executor(ThreadPoolExecutor(max_workers=64))
        self.thread = threading.Thread(target=self.loop.run_forever, name="berth-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()


_lock = threading.Lock()
_loop: _LoopThread | None = None
_ctx: WorkerContext | None = None


def build_context(settings: Settings) -> WorkerContext:
    engine = make_engine(settings.require_database_url(), pool_size=10, max_overflow=20)
    backend = make_backend(settings)
    return WorkerContext(
        settings=settings,
        engine=engine,
        sessionmaker=make_sessionmaker(engine),
        backend=backend,
        box=SecretBox(settings.resolved_secret_key()),
        redis=redis_client(settings.require_redis_url()),
    )


async def warm_up(ctx: WorkerContext) -> None:
    """Open a database connection and make sure the tenants network exists, so the
    first signup after a worker start does not pay for either."""
    from sqlalchemy import text

    from provisioner.spec import instance_labels

    async with ctx.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    await asyncio.to_thread(
        ctx.backend.ensure_network,
        ctx.settings.tenant_network,
        labels=instance_labels(ctx.settings.instance),
    )
    ctx.http()


def run(coro_factory: Any) -> Any:
    """Run `coro_factory(ctx)` on the process's loop and return its result."""
    global _loop, _ctx
    with _lock:
        if _loop is None:
            _loop = _LoopThread()
        if _ctx is None:
            _ctx = build_context(get_settings())
    loop, ctx = _loop, _ctx
    return loop.run(coro_factory(ctx))
