"""Engine detection against the real engine, and `berth run` without one."""

from __future__ import annotations

import os
import subprocess
import sys

import docker
import pytest

from provisioner.runtime.engine import detect
from tests.fixtures.stack import ROOT

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
