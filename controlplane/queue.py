"""Sending provisioner tasks from the API, by name and with IDs only."""

from __future__ import annotations

import asyncio

import structlog
from celery import Celery

from controlplane.db import PendingJobs

log = structlog.get_logger(__name__)


class TaskQueue:
    """Thin sender over a Celery app: the API sends task names and IDs, never objects."""

    def __init__(self, celery: Celery) -> None:
        self.celery = celery

    def send(self, task: str, *args: str) -> bool:
        """Send one task. False when the broker is unreachable.

        A lost send is not a lost signup: the row is committed, and the reconciler
        re-sends work for every tenant whose observed state lags its desired state.
        """
        try:
            self.celery.send_task(
                task,
                args=list(args),
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2},
            )
        except Exception as exc:  # noqa: BLE001 - broker errors come in many types
            log.warning("enqueue_failed", task=task, error_type=type(exc).__name__)
            return False
        return True

    async def run(self, jobs: PendingJobs) -> None:
        for task, args in jobs.jobs:
            await asyncio.to_thread(self.send, task, *args)
