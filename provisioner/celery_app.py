"""Celery configuration and beat schedule."""

from __future__ import annotations

from celery import Celery, signals

from controlplane.logging import configure_logging
from controlplane.settings import Settings, get_settings

# Seconds between prunes of tenant_events: retention is counted in days, so hourly
# keeps the table within an hour of its bound, and an idle run costs one query.
EVENT_PRUNE_INTERVAL = 3600.0


def broker_url(redis_url: str) -> str:
    """Celery's spelling of a Redis URL: unix:///p becomes redis+socket:///p."""
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url[len("unix://") :]
    return redis_url


def make_celery(settings: Settings) -> Celery:
    app = Celery("berth", broker=broker_url(settings.require_redis_url()))
    app.conf.update(
        task_default_queue="berth",
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        # A task is acknowledged only once it has finished, and a task whose worker
        # died is handed to another worker: tasks are idempotent, so re-running is safe.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={
            "visibility_timeout": settings.task_visibility_timeout,
            # Scan for tasks of dead workers every few seconds (kombu's default
            # is interval 10 s x throttle 10, i.e. one scan per ~100 s).
            "unacked_restore_interval": max(1, min(10, settings.task_visibility_timeout // 4)),
            "unacked_restore_throttle": 1,
            "socket_timeout": 5,
            "socket_connect_timeout": 5,
        },
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        beat_schedule={
            "reconcile": {
                "task": "berth.reconcile",
                "schedule": settings.reconcile_interval,
                # A sweep older than one interval is superseded by the next one.
                "options": {"expires": settings.reconcile_interval},
            },
            "idle-sweep": {
                "task": "berth.idle_sweep",
                "schedule": settings.idle_sweep_interval,
                "options": {"expires": settings.idle_sweep_interval},
            },
            "usage-sample": {
                "task": "berth.sample_usage",
                "schedule": settings.usage_sample_interval,
                "options": {"expires": settings.usage_sample_interval},
            },
            "leak-scan": {
                "task": "berth.leak_scan",
                "schedule": settings.leak_scan_interval,
                "options": {"expires": settings.leak_scan_interval},
            },
            "prune-events": {
                "task": "berth.prune_events",
                "schedule": EVENT_PRUNE_INTERVAL,
                "options": {"expires": EVENT_PRUNE_INTERVAL},
            },
        },
    )
    return app


@signals.setup_logging.connect
def _setup_logging(**_: object) -> None:
    # Berth's structured logs in worker and beat too, not Celery's default format.
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)


app = make_celery(get_settings()) if get_settings().redis_url else Celery("berth")
