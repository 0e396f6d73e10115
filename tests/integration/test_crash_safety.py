"""Retries, redelivery and concurrency never leave two containers or an orphan.

Both runtimes: on Swarm, Berth's object per tenant is a service (its task container
only appears once the service is scheduled), so there it is never two services.
"""

from __future__ import annotations

import signal
from typing import Any

import docker
import httpx
import pytest
from sqlalchemy import select

from controlplane.models import Tenant
from provisioner.celery_app import make_celery
from tests.conftest import wait_state, wait_until
from tests.fixtures.backends import BOTH, is_swarm, tenant_services
from tests.fixtures.stack import BerthProcess, Stack
from tests.fixtures.tenants import tenant_container

pytestmark = [pytest.mark.docker, BOTH]


def _containers(dock: docker.DockerClient, stack: Stack, slug: str) -> list[Any]:
    """What Berth made for the tenant: its containers (on Swarm, its services)."""
    if is_swarm(stack):
        return tenant_services(dock, stack, slug)
    return dock.containers.list(all=True, sparse=True, filters={"label": f"berth.tenant={slug}"})


async def test_worker_sigkilled_mid_provision_leaves_one_healthy_container(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    beat: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    # The sample waits 4 s before serving, so the kill lands while the task is
    # waiting for health, after the container was created.
    r = await client.post("/tenants", json={"slug": slug, "env": {"SAMPLE_START_DELAY": "4"}})
    assert r.status_code == 202

    async def created() -> bool:
        return bool(_containers(dock, stack, slug))

    await wait_until(created, timeout=30, what="container created by the worker")
    assert (await client.get(f"/tenants/{slug}")).json()["state"] == "provisioning"
    live_worker.kill(signal.SIGKILL)

    # The task is redelivered: by the reconciler as soon as it sees the tenant's lock
    # free while provisioning, or by the broker once the visibility timeout passes.
    live_worker.start()
    body = await wait_state(client, slug, "running", timeout=90)
    assert body["container_name"] == f"berth-{slug}"
    containers = _containers(dock, stack, slug)
    assert len(containers) == 1
    c = tenant_container(dock, slug)  # on Swarm, the one service's task container
    c.reload()
    assert c.status == "running"
    assert c.attrs["Config"]["Labels"]["berth.generation"] == "1"


async def test_concurrent_duplicate_tasks_make_one_container(
    client: httpx.AsyncClient,
    app: Any,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    r = await client.post("/tenants", json={"slug": slug})
    assert r.status_code == 202
    async with app.state.sessionmaker() as s:
        tenant_id = (await s.execute(select(Tenant.id).where(Tenant.slug == slug))).scalar_one()
    celery = make_celery(stack.settings)
    # Redelivery, a retry and the reconciler can all send the same work at once.
    for _ in range(6):
        celery.send_task("berth.converge_tenant", args=[str(tenant_id)])
    await wait_state(client, slug, "running")
    first = _containers(dock, stack, slug)
    assert len(first) == 1

    # Every duplicate finishes (each logs converge_done with the tenant id) without
    # adding or replacing the container.
    async def all_done() -> bool:
        lines = stack.logs().splitlines()
        return sum(1 for ln in lines if "converge_done" in ln and str(tenant_id) in ln) >= 7

    await wait_until(all_done, timeout=60, what="all seven converge tasks to finish")
    assert [c.id for c in _containers(dock, stack, slug)] == [first[0].id]
    tenant_container(dock, slug)  # and exactly one process serves
