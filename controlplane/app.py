"""create_app(): the FastAPI application and its lifespan resources."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from controlplane.audit.endpoints import router as audit_router
from controlplane.billing.endpoints import router as billing_router
from controlplane.blueprints.endpoints import router as blueprints_router
from controlplane.dashboard.auth import LOGIN_PATH, LoginRequired
from controlplane.dashboard.endpoints import STATIC_DIR
from controlplane.dashboard.endpoints import router as dashboard_router
from controlplane.dashboard.sessions import SessionStore
from controlplane.db import make_engine, make_sessionmaker
from controlplane.edge.activity import ActivityRecorder
from controlplane.edge.cache import GateCache
from controlplane.edge.endpoints import router as edge_router
from controlplane.edge.gate import EdgeGateMiddleware
from controlplane.edge.service import Edge
from controlplane.errors import ERROR_RESPONSES, install_error_handlers
from controlplane.events.endpoints import router as events_router
from controlplane.events.service import EVENT_CHANNEL
from controlplane.health.endpoints import router as health_router
from controlplane.incidents.endpoints import router as incidents_router
from controlplane.logging import configure_logging
from controlplane.metrics.endpoints import router as metrics_router
from controlplane.metrics.gate import GateCounts
from controlplane.middleware import BodyLimitMiddleware, RequestIdMiddleware
from controlplane.plans.endpoints import router as plans_router
from controlplane.preflight.endpoints import router as preflight_router
from controlplane.queue import TaskQueue
from controlplane.redis_client import redis_client
from controlplane.rollouts.endpoints import router as rollouts_router
from controlplane.sandbox import EngineRuntimes
from controlplane.security.crypto import SecretBox
from controlplane.security.endpoints import router as api_keys_router
from controlplane.settings import Settings, get_settings
from controlplane.tenant_runtime.endpoints import router as runtime_router
from controlplane.tenants.changes import TenantChanges
from controlplane.tenants.endpoints import router as tenants_router
from provisioner.celery_app import make_celery
from provisioner.context import WorkerContext
from provisioner.runtime.factory import make_backend


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API. Resources (engine, Redis, Celery, Docker) live in the lifespan."""
    settings = settings or get_settings()
    settings.check_production_safety()
    configure_logging(settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.require_database_url())
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        app.state.redis = redis_client(settings.require_redis_url())
        app.state.queue = TaskQueue(make_celery(settings))
        app.state.backend = make_backend(settings)
        app.state.runtimes = EngineRuntimes(app.state.backend)
        app.state.box = SecretBox(settings.resolved_secret_key())
        app.state.admin_token = settings.resolved_admin_token()
        app.state.changes = TenantChanges(settings.require_database_url())
        app.state.events = TenantChanges(settings.require_database_url(), channel=EVENT_CHANNEL)
        app.state.gate_counts = GateCounts()
        app.state.dashboard_sessions = SessionStore(
            app.state.redis, ttl=settings.dashboard_session_ttl
        )
        activity = ActivityRecorder(app.state.redis)
        app.state.edge = Edge(
            domain=settings.domain,
            cache=GateCache(app.state.sessionmaker, app.state.changes),
            activity=activity,
            power=WorkerContext(
                settings=settings,
                engine=engine,
                sessionmaker=app.state.sessionmaker,
                backend=app.state.backend,
                box=app.state.box,
                redis=app.state.redis,
            ),
            queue=app.state.queue,
            changes=app.state.changes,
            wake_timeout=settings.wake_timeout,
        )
        activity.start()
        try:
            yield
        finally:
            await activity.stop()
            await app.state.changes.close()
            await app.state.events.close()
            await engine.dispose()
            app.state.redis.close()

    app = FastAPI(
        title="Berth",
        version="0.1.0",
        description="Control plane for per-tenant containers.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    # Outermost: Traefik's per-request gate skips the other middlewares and routing.
    app.add_middleware(EdgeGateMiddleware)
    for router in (
        health_router,
        tenants_router,
        events_router,
        blueprints_router,
        plans_router,
        incidents_router,
        rollouts_router,
        metrics_router,
        api_keys_router,
        audit_router,
        edge_router,
        billing_router,
        dashboard_router,
        runtime_router,
        preflight_router,
    ):
        app.include_router(router, responses=ERROR_RESPONSES)
    app.mount("/dashboard/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")

    @app.exception_handler(LoginRequired)
    async def _login_required(_: Request, __: LoginRequired) -> RedirectResponse:
        return RedirectResponse(LOGIN_PATH, status_code=303)

    return app
