"""Engine detection against the real engine, and `berth run` without one."""

from __future__ import annotations

import os
import subprocess
import sys

import docker
import httpx
import pytest

from provisioner.runtime.engine import detect
from tests.conftest import wait_state
from tests.fixtures.stack import ROOT, BerthProcess

pytestmark = pytest.mark.docker


def test_detect_reports_the_engine_its_version_and_runtimes(dock: docker.DockerClient) -> None:
    engine = detect()
    version = dock.version()
    # deploy/podman-test.sh runs this against a Podman socket.
    expected = "podman" if os.environ.get("DOCKER_HOST", "").endswith("podman.sock") else "docker"
    assert engine.name == expected and engine.version == version["Version"]
    assert engine.api_version == version["ApiVersion"]
    assert "runc" in engine.runtimes and engine.default_runtime in engine.runtimes
    assert set(engine.as_dict()) >= {"name", "version", "runtimes", "base_url", "source"}


def test_berth_run_without_an_engine_says_how_to_start_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
    env.update(
        {
            "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock",
            "BERTH_DATA_DIR": str(tmp_path / "data"),
            "COLUMNS": "300",
        }
    )
    p = subprocess.run(
        [sys.executable, "-m", "controlplane.cli", "run"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 1
    assert "no container engine answers" in p.stderr and "podman.socket" in p.stderr
    assert "Traceback" not in p.stderr
    assert not (tmp_path / "data").exists()  # nothing was started before the check


async def test_hardening_holds_inside_the_tenant_container(
    client: httpx.AsyncClient,
    live_worker: BerthProcess,
    dock: docker.DockerClient,
    slug: str,
) -> None:
    """What the kernel enforces, read from inside: engine-neutral (Docker and Podman
    describe the same settings differently in `inspect`)."""
    assert (
        await client.post("/tenants", json={"slug": slug, "blueprint_version": "1"})
    ).status_code == 202
    body = await wait_state(client, slug, "running")
    c = dock.containers.get(body["container_name"])

    def sh(cmd: str) -> tuple[int, str]:
        code, out = c.exec_run(["/bin/sh", "-c", cmd])
        return code, out.decode(errors="replace")

    status = dict(
        line.split(":\t", 1)
        for line in sh("cat /proc/self/status")[1].splitlines()
        if ":\t" in line
    )
    assert sh("id -u")[1].strip() == "10001"
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[cap], 16) == 0, (cap, status[cap])
    assert status["NoNewPrivs"].strip() == "1" and status["Seccomp"].strip() == "2"
    assert sh("touch /probe")[0] != 0  # read-only root
    mounts = sh("cat /proc/mounts")[1].splitlines()
    tmp = next(m.split() for m in mounts if m.split()[1] == "/tmp")
    assert tmp[2] == "tmpfs" and {"noexec", "nosuid", "nodev"} <= set(tmp[3].split(","))
    assert sh("touch /tmp/probe && stat -c %u /tmp")[1].strip() == "10001"  # owned by the tenant
    assert sh("echo ok > /data/probe && cat /data/probe") == (0, "ok\n")
    assert sh("ls /data/probe")[0] == 0  # control: ls answers for what exists
    assert sh("ls /var/run/docker.sock /run/podman/podman.sock")[0] != 0
    await client.delete(f"/tenants/{slug}")
