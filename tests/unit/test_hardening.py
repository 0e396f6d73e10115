"""The hardening checks and posture rules on hand-written inspect documents (pure)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controlplane.preflight import posture
from provisioner import hardening

NET = "berth-tenants"

# What the engine reports for a container made by DockerBackend._create.
HARDENED: dict[str, Any] = {
    "Id": "a" * 64,
    "Name": "/berth-acme",
    "Config": {
        "User": "10001:10001",
        "Labels": {"berth.tenant": "acme"},
        "Healthcheck": {"Test": ["CMD-SHELL", "true"]},
    },
    "HostConfig": {
        "Privileged": False,
        "CapDrop": ["ALL"],
        "CapAdd": None,
        "SecurityOpt": ["no-new-privileges:true"],
        "ReadonlyRootfs": True,
        "Memory": 128 * 2**20,
        "MemorySwap": 128 * 2**20,
        "NanoCpus": 500_000_000,
        "PidsLimit": 128,
        "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 5},
        "NetworkMode": NET,
        "IpcMode": "private",
        "PidMode": "",
        "UTSMode": "",
        "UsernsMode": "",
        "Devices": [],
        "Runtime": "runc",
    },
    "Mounts": [{"Type": "volume", "Source": "/var/lib/docker/volumes/x/_data"}],
    "NetworkSettings": {"Networks": {NET: {}}},
    "State": {"Status": "running"},
}


def _with(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(HARDENED)
    *parents, key = path.split(".")
    node = data
    for part in parents:
        node = node[part]
    node[key] = value
    return data


def _status(data: dict[str, Any]) -> dict[str, str]:
    return {c.id: c.status for c in hardening.check_container(data, tenant_network=NET)}


def test_hardened_container_passes_everything() -> None:
    assert set(_status(HARDENED).values()) == {"pass"}


@pytest.mark.parametrize(
    ("path", "value", "check", "status"),
    [
        (
            "HostConfig.RestartPolicy",
            {"Name": "on-failure", "MaximumRetryCount": 0},
            "restart_policy",
            "fail",
        ),
        (
            "HostConfig.RestartPolicy",
            {"Name": "on-failure", "MaximumRetryCount": 6},
            "restart_policy",
            "fail",
        ),
        ("HostConfig.RestartPolicy", {"Name": "unless-stopped"}, "restart_policy", "fail"),
        ("HostConfig.RestartPolicy", {"Name": "no"}, "restart_policy", "warn"),
        ("HostConfig.MemorySwap", -1, "memory", "fail"),
        ("HostConfig.CapDrop", ["NET_RAW"], "capabilities", "fail"),
        (
            "HostConfig.SecurityOpt",
            ["no-new-privileges:true", "apparmor=unconfined"],
            "seccomp",
            "fail",
        ),
        ("HostConfig.SecurityOpt", ["no-new-privileges=false"], "no_new_privileges", "fail"),
        ("HostConfig.UsernsMode", "host", "host_namespaces", "fail"),
        ("HostConfig.IpcMode", "container:abc", "host_namespaces", "fail"),
        ("HostConfig.DeviceCgroupRules", ["c 1:3 rwm"], "devices", "fail"),
        ("HostConfig.Binds", ["/run:/host-run:ro"], "docker_socket", "fail"),
        ("Mounts", [{"Source": "/var/run/"}], "docker_socket", "fail"),
        ("Config.User", "root:root", "user", "fail"),
        ("Config.User", "", "user", "fail"),
        ("Config.Healthcheck", {"Test": ["NONE"]}, "healthcheck", "warn"),
        ("NetworkSettings.Networks", {NET: {}, "other": {}}, "network", "warn"),
        ("NetworkSettings.Networks", {"host": {}}, "network", "fail"),
        ("HostConfig.NanoCpus", 0, "cpu", "fail"),
    ],
)
def test_each_weakness_is_reported(path: str, value: Any, check: str, status: str) -> None:
    statuses = _status(_with(path, value))
    assert statuses[check] == status
    assert {k for k, v in statuses.items() if v != "pass"} == {check}


def test_cpu_quota_counts_as_a_limit_and_runsc_is_reported() -> None:
    data = _with("HostConfig.NanoCpus", 0)
    data["HostConfig"].update(CpuQuota=50_000, CpuPeriod=100_000, Runtime="runsc")
    checks = {c.id: c for c in hardening.check_container(data, tenant_network=NET)}
    assert checks["cpu"].status == "pass" and "0.5" in checks["cpu"].detail
    assert checks["runtime"].detail.startswith("runsc")


@pytest.mark.parametrize(
    ("token", "status"),
    [
        ("changeme", "fail"),
        ("short-but-random-9f2", "fail"),
        ("a" * 64, "fail"),
        ("ab" * 32, "fail"),
        ("0f9c3e1a7b2d4c6e8f0a1b3c5d7e9f21", "pass"),  # 32 hex characters, 128 bits
        ("Jq3xV0bq8mRk1Zp2H7wYcT5nL4sD9fE6gA0uI3oK", "pass"),
    ],
)
def test_weak_tokens_fail(token: str, status: str) -> None:
    assert posture.check_admin_token(token, token).status == status
    assert posture.check_secret_key(token, token).status == status


def test_generated_secret_key_warns() -> None:
    assert posture.check_secret_key(None, "generated" * 8).status == "warn"


def test_daemon_advice_never_fails() -> None:
    weak = posture.daemon_advice({"LiveRestoreEnabled": False, "SecurityOptions": []}, None)
    assert {c.status for c in weak} == {"warn"}
    strong = posture.daemon_advice(
        {"LiveRestoreEnabled": True, "SecurityOptions": ["name=userns"]},
        {"Options": {"com.docker.network.bridge.enable_icc": "false"}},
    )
    assert {c.status for c in strong} == {"pass"}
