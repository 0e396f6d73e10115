"""Run the preflight: inspect this instance's containers, Berth's settings and the engine."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from controlplane.errors import Unavailable
from controlplane.migrate import engine_at_head
from controlplane.preflight import posture
from controlplane.preflight.schemas import (
    CheckOut,
    ContainerReport,
    EngineReport,
    PreflightReport,
    Summary,
)
from controlplane.settings import Settings
from provisioner import hardening
from provisioner.runtime.base import EngineUnavailable, RuntimeBackend, RuntimeBackendError
from provisioner.spec import LABEL_INSTANCE, LABEL_TENANT

# Inspect calls in flight at once: enough to hide latency, few enough to spare the engine.
INSPECT_CONCURRENCY = 8


def _out(checks: Iterable[hardening.Check]) -> list[CheckOut]:
    return [
        CheckOut(id=c.id, status=c.status, detail=c.detail, reference=c.reference) for c in checks
    ]


def _engine(info: dict[str, Any]) -> EngineReport:
    version = info.get("Version") or {}
    return EngineReport(
        name=str((version.get("Platform") or {}).get("Name") or "Docker Engine"),
        version=str(version.get("Version") or info.get("ServerVersion") or "unknown"),
        api_version=str(version.get("ApiVersion") or "unknown"),
        os=f"{info.get('OperatingSystem', '')} {info.get('KernelVersion', '')}".strip(),
        default_runtime=str(info.get("DefaultRuntime") or "runc"),
        runtimes=sorted((info.get("Runtimes") or {}).keys()),
        security_options=[str(o) for o in info.get("SecurityOptions") or []],
    )


def _container(data: dict[str, Any], settings: Settings) -> ContainerReport:
    checks = hardening.check_container(data, tenant_network=settings.tenant_network)
    labels = (data.get("Config") or {}).get("Labels") or {}
    return ContainerReport(
        id=str(data["Id"])[:12],
        name=str(data.get("Name", "")).lstrip("/"),
        tenant=labels.get(LABEL_TENANT),
        state=str((data.get("State") or {}).get("Status", "unknown")),
        runtime=hardening.runtime_of(data),
        status=hardening.worst([c.status for c in checks]),
        checks=_out(checks),
    )


async def _inspect_all(backend: RuntimeBackend, instance: str) -> list[dict[str, Any]]:
    listed = await asyncio.to_thread(backend.list, {LABEL_INSTANCE: instance})
    gate = asyncio.Semaphore(INSPECT_CONCURRENCY)

    async def one(container_id: str) -> dict[str, Any] | None:
        async with gate:
            return await asyncio.to_thread(backend.inspect_raw, container_id)

    found = await asyncio.gather(*(one(c.id) for c in listed))
    return [d for d in found if d is not None]  # removed between list and inspect


async def _berth_posture(
    settings: Settings, backend: RuntimeBackend, *, engine: AsyncEngine, admin_token: str
) -> tuple[list[hardening.Check], dict[str, Any]]:
    info = await asyncio.to_thread(backend.engine_info)
    bridge = await asyncio.to_thread(backend.network_raw, "bridge")
    tenants_net = await asyncio.to_thread(backend.network_raw, settings.tenant_network)
    at_head = await engine_at_head(engine)
    checks = [
        posture.check_secret_key(settings.secret_key, settings.resolved_secret_key()),
        posture.check_admin_token(settings.admin_token, admin_token),
        posture.check_migrations(at_head),
        posture.check_tenant_network(tenants_net, settings.tenant_network),
        *posture.daemon_advice(info, bridge),
    ]
    return checks, info


async def run(
    *, settings: Settings, backend: RuntimeBackend, engine: AsyncEngine, admin_token: str
) -> PreflightReport:
    """Check every container of this instance, Berth's own settings and the daemon."""
    try:
        berth, info = await _berth_posture(
            settings, backend, engine=engine, admin_token=admin_token
        )
        inspected = await _inspect_all(backend, settings.instance)
    except EngineUnavailable as exc:
        raise Unavailable("the Docker engine does not answer") from exc
    except RuntimeBackendError as exc:
        raise Unavailable(f"the Docker engine failed: {exc}") from exc
    containers = sorted(
        (_container(d, settings) for d in inspected), key=lambda c: (c.tenant or "", c.name)
    )
    statuses = [c.status for c in berth] + [
        check.status for report in containers for check in report.checks
    ]
    return PreflightReport(
        status=hardening.worst(statuses),
        checked_at=datetime.now(UTC),
        summary=Summary(
            passed=statuses.count("pass"),
            warned=statuses.count("warn"),
            failed=statuses.count("fail"),
        ),
        engine=_engine(info),
        berth=_out(berth),
        containers=containers,
    )
