"""Thin Celery tasks: they take IDs and call the services."""

from __future__ import annotations

import uuid

import structlog
from celery import Task, signals

from provisioner import context
from provisioner.celery_app import app
from provisioner.idle import IdleResult, idle_sweep
from provisioner.leakscan import LeakScanResult, leak_scan
from provisioner.provisioning import Outcome, converge
from provisioner.reconcile import SweepResult, reconcile
from provisioner.retention import PruneResult, prune_events
from provisioner.rollouts import drive
from provisioner.usage import sample_usage

log = structlog.get_logger(__name__)

# Retry countdowns stay far below the broker's visibility timeout, so a retried
# task is never also redelivered as "lost".
BUSY_RETRY_SECONDS = 1.0


@signals.worker_ready.connect
def _warm_up(**_: object) -> None:
    try:
        context.run(context.warm_up)
    except Exception as exc:  # noqa: BLE001 - a cold first task is slower, not broken
        log.warning("warm_up_failed", error_type=type(exc).__name__)


@app.task(name="berth.converge_tenant", bind=True, max_retries=300)
def converge_tenant(self: Task, tenant_id: str) -> str:  # type: ignore[type-arg]
    """Make tenant `tenant_id`'s containers match its desired state."""
    outcome = Outcome(context.run(lambda ctx: converge(ctx, uuid.UUID(tenant_id))))
    if outcome is Outcome.BUSY:
        raise self.retry(countdown=BUSY_RETRY_SECONDS)
    log.info("converge_done", tenant_id=tenant_id, outcome=outcome.value)
    return outcome.value


@app.task(name="berth.drive_rollout", bind=True, max_retries=None)
def drive_rollout(self: Task, rollout_id: str) -> str:  # type: ignore[type-arg]
    """Run or resume a rollout until it completes or halts."""
    state: str = context.run(lambda ctx: drive(ctx, uuid.UUID(rollout_id)))
    log.info("rollout_driven", rollout_id=rollout_id, state=state)
    return state


@app.task(name="berth.reconcile")
def reconcile_task() -> dict[str, int]:
    """Level-triggered sweep: re-drive every tenant whose world lags its desired state."""
    result: SweepResult = context.run(
        lambda ctx: reconcile(ctx, enqueue=_enqueue, enqueue_rollout=_enqueue_rollout)
    )
    return result.as_dict()


@app.task(name="berth.idle_sweep")
def idle_sweep_task() -> dict[str, object]:
    """Pause running tenants that have been idle past their plan's idle_after."""
    result: IdleResult = context.run(lambda ctx: idle_sweep(ctx, enqueue=_enqueue))
    return result.as_dict()


@app.task(name="berth.sample_usage")
def sample_usage_task() -> int:
    """Measure CPU and memory of every running tenant into tenant_usage."""
    measured: int = context.run(sample_usage)
    return measured


@app.task(name="berth.leak_scan")
def leak_scan_task() -> dict[str, object]:
    """Scan running tenant containers' new log lines for their own secrets' values."""
    result: LeakScanResult = context.run(leak_scan)
    return result.as_dict()


@app.task(name="berth.prune_events")
def prune_events_task() -> dict[str, object]:
    """Fold tenant_events older than BERTH_EVENT_RETENTION_DAYS into the rollup and
    delete them."""
    result: PruneResult = context.run(prune_events)
    return result.as_dict()


def _enqueue(tenant_id: str, countdown: float) -> None:
    converge_tenant.apply_async(args=(tenant_id,), countdown=countdown)


def _enqueue_rollout(rollout_id: str) -> None:
    drive_rollout.apply_async(args=(rollout_id,))
