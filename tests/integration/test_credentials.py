"""Credential isolation: nothing of the control plane reaches a tenant container, and a
tenant's secrets reach only its own container.

What a tenant can see is collected from inside (every process's environ, every
regular file under 1 MiB outside /proc and /sys, /data and /tmp included) plus what
the engine holds for it (`docker inspect`: env, labels, mounts, command), and
searched on the host: the control-plane values are never sent into a container,
not even as a probe argument. Positive controls: the tenant's own secret, and a
marker planted in /data, are found by the same collection.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import docker
import httpx
import pytest

from tests.conftest import wait_state
from tests.fixtures.backends import BOTH, is_swarm, tenant_services
from tests.fixtures.probes import sh
from tests.fixtures.stack import ADMIN_TOKEN, SECRET_KEY, BerthProcess, Stack
from tests.fixtures.tenants import deleted, tenant_container

pytestmark = [pytest.mark.docker, BOTH]

# Every process's environment, then the contents of every small regular file.
COLLECT = r"""
for p in /proc/[0-9]*; do echo "== environ $p"; tr '\0' '\n' < "$p/environ" 2>/dev/null; done
find / \( -path /proc -o -path /sys \) -prune -o -type f -size -1024k -print 2>/dev/null |
while read -r f; do echo "== file $f"; cat "$f" 2>/dev/null; echo; done
echo "== done"
"""


def _visible(c: Any) -> str:
    """Everything the tenant's processes can read, plus the engine's view of it."""
    code, out = sh(c, COLLECT)
    assert code == 0 and "== done" in out, (code, out[-2000:])
    assert "== file /entrypoint.sh" in out and "== environ /proc/1" in out, out[:2000]
    return out + "\n" + json.dumps(c.attrs)


async def test_no_control_plane_credential_reaches_a_tenant(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
) -> None:
    r = await client.post("/api-keys", json={"name": "cred-test", "scopes": ["read"]})
    assert r.status_code == 201, r.text
    api_key = r.json()["key"]
    secret_a, secret_b = "SA-" + uuid.uuid4().hex, "SB-" + uuid.uuid4().hex
    a, b = "ca" + uuid.uuid4().hex[:8], "cb" + uuid.uuid4().hex[:8]
    for slug, value in ((a, secret_a), (b, secret_b)):
        r = await client.post("/tenants", json={"slug": slug, "secrets": {"KEY": value}})
        assert r.status_code == 202, r.text
    await wait_state(client, a, "running")
    await wait_state(client, b, "running")
    ca, cb = tenant_container(dock, a), tenant_container(dock, b)
    marker = "PLANTED-" + uuid.uuid4().hex
    assert sh(ca, f"echo {marker} > /data/planted")[0] == 0

    seen_a, seen_b = await asyncio.gather(
        asyncio.to_thread(_visible, ca), asyncio.to_thread(_visible, cb)
    )
    # On Swarm the engine also holds the service spec the task containers come from.
    seen_a += "".join(json.dumps(svc.attrs) for svc in tenant_services(dock, stack, a))
    seen_b += "".join(json.dumps(svc.attrs) for svc in tenant_services(dock, stack, b))
    # Controls: the collection sees the tenant's own secret and a file in /data.
    assert secret_a in seen_a and secret_b in seen_b
    assert marker in seen_a
    # Each tenant's secrets reach its own container only.
    assert secret_b not in seen_a and secret_a not in seen_b

    s = stack.settings
    control_plane = {
        "admin token": ADMIN_TOKEN,
        "BERTH_SECRET_KEY": SECRET_KEY,
        "API key": api_key,
        "database URL": s.require_database_url(),
        "Redis URL": s.require_redis_url(),
        "PostgreSQL socket dir": stack.postgres.socket_dir,
        "Berth data dir": str(s.data_dir),
    }
    for slug, seen in ((a, seen_a), (b, seen_b)):
        for what, value in control_plane.items():
            assert value not in seen, f"the {what} is visible inside {slug}"
        for name in ("DATABASE_URL", "REDIS_URL", "ADMIN_TOKEN", "SECRET_KEY", "DOCKER_HOST"):
            assert f"BERTH_{name}=" not in seen and f"\n{name}=" not in seen, (slug, name)
        assert "docker.sock" not in seen, slug
    # Swarm lists the tenant's /tmp tmpfs among the mounts; Docker keeps it apart.
    tmp = [{"Destination": "/tmp", "Type": "tmpfs"}] if is_swarm(stack) else []
    for c in (ca, cb):
        mounts = [{"Destination": m["Destination"], "Type": m["Type"]} for m in c.attrs["Mounts"]]
        assert sorted(mounts, key=str) == sorted(
            [{"Destination": "/data", "Type": "volume"}, *tmp], key=str
        ), mounts
        assert c.attrs["HostConfig"]["Binds"] in (None, [])
    await deleted(client, a, b)
