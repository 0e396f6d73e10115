"""`berth run` end to end: embedded deps, signup, and a restart that leaves tenants alone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker
import httpx
import pytest

from tests.fixtures.stack import ROOT, cleanup_docker

pytestmark = pytest.mark.docker


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BerthRun:
    def __init__(self, data_dir: Path, port: int, instance: str) -> None:
        self.data_dir, self.port, self.instance = data_dir, port, instance
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"{data_dir.name}.log"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
        env.update(
            {
                "BERTH_DATA_DIR": str(self.data_dir),
                "BERTH_API_PORT": str(self.port),
                "BERTH_INSTANCE": self.instance,
                "BERTH_TENANT_NETWORK": f"berth-{self.instance}",
                "BERTH_DOMAIN": "e2e.localhost",
            }
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "controlplane.cli", "run"],
            env=env,
            cwd=ROOT,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("berth run did not come up:\n" + self.log.read_text()[-3000:])

    def interrupt(self) -> int:
        """Ctrl-C, as a terminal would deliver it."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGINT)
        return self.proc.wait(60)

    @property
    def token(self) -> str:
        return (self.data_dir / "admin.token").read_text().strip()


def _wait_running(base: str, token: str, slug: str) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = httpx.get(f"{base}/tenants/{slug}", headers={"Authorization": f"Bearer {token}"})
        if r.status_code == 200 and r.json()["state"] == "running":
            body: dict[str, object] = r.json()
            return body
        time.sleep(0.2)
    raise AssertionError(f"{slug} not running: {r.text}")


def test_make_run_signup_and_restart_leaves_tenants_untouched() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="be2e-", dir="/tmp"))
    instance = "e2e-" + uuid.uuid4().hex[:6]
    slug = "acme-" + uuid.uuid4().hex[:6]  # acme, made unique so no real tenant is touched
    run = BerthRun(tmp / "data", _free_port(), instance)
    dock = docker.from_env()
    try:
        run.start()
        base = f"http://127.0.0.1:{run.port}"
        auth = {"Authorization": f"Bearer {run.token}"}
        log = run.log.read_text()
        assert f"API:   {base}" in log and f"{base}/docs" in log and "admin.token" in log
        r = httpx.post(f"{base}/tenants", json={"slug": slug}, headers=auth)
        assert r.status_code == 202, r.text
        _wait_running(base, run.token, slug)
        c = dock.containers.get(f"berth-{slug}")
        started = c.attrs["State"]["StartedAt"]
        ip = c.attrs["NetworkSettings"]["Networks"][f"berth-{instance}"]["IPAddress"]
        assert httpx.get(f"http://{ip}:8080/health").json()["tenant"] == slug

        assert run.interrupt() == 0
        c.reload()
        assert c.status == "running" and c.attrs["State"]["StartedAt"] == started
        assert httpx.get(f"http://{ip}:8080/health").status_code == 200

        run.start()
        body = _wait_running(base, run.token, slug)
        assert body["container_name"] == f"berth-{slug}"
        c.reload()
        assert c.attrs["State"]["StartedAt"] == started, "restart must not restart tenants"
        assert c.attrs["RestartCount"] == 0

        assert httpx.delete(f"{base}/tenants/{slug}", headers=auth).status_code == 202
        deadline = time.monotonic() + 30
        while httpx.get(f"{base}/tenants/{slug}", headers=auth).status_code != 404:
            assert time.monotonic() < deadline, "tenant not deleted"
            time.sleep(0.2)
        assert not dock.containers.list(
            all=True, filters={"label": f"berth.tenant={slug}", "name": f"berth-{slug}"}
        )
        assert not dock.volumes.list(filters={"label": f"berth.instance={instance}"})
    finally:
        if run.proc and run.proc.poll() is None:
            run.interrupt()
        cleanup_docker(instance)
        dock.close()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)
