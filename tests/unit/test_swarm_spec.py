"""The Swarm service spec built from a tenant's container spec (pure: no engine calls)."""

from __future__ import annotations

from typing import Any

from provisioner.runtime.docker import CountingAPIClient
from provisioner.runtime.swarm import SwarmBackend
from provisioner.runtime.swarm_spec import task_state
from provisioner.spec import TenantSpecInput, build_spec


def _spec(plan: str = "pro") -> Any:
    return build_spec(
        TenantSpecInput(
            tenant_id="0b6c7a52-1111-2222-3333-444455556666",
            slug="acme",
            generation=3,
            blueprint_version="2",
            image="berth-sample:2",
            port=8080,
            user="10001:10001",
            cpu=0.5,
            memory_mb=128,
            pids=100,
            blueprint_env={},
            tenant_env={"A": "1"},
            secrets={},
            domain="example.com",
            network="tenants",
            instance="prod",
            plan=plan,
        )
    )


def _backend(version: str = "1.41", **kw: Any) -> SwarmBackend:
    # An explicit API version: the client is built without asking any engine.
    return SwarmBackend(CountingAPIClient(version=version), network="tenants", **kw)


def test_one_replica_with_limits_reservations_restart_and_start_first_updates() -> None:
    svc = _backend()._service_spec(_spec())
    assert svc["Name"] == "berth-acme"
    assert svc["Mode"] == {"Replicated": {"Replicas": 1}}
    task = svc["TaskTemplate"]
    assert task["Resources"]["Limits"] == {
        "NanoCPUs": 500_000_000,
        "MemoryBytes": 128 * 1024 * 1024,
        "Pids": 100,
    }
    assert task["Resources"]["Reservations"] == {"MemoryBytes": 128 * 1024 * 1024}
    assert task["RestartPolicy"]["MaxAttempts"] == 5
    assert svc["UpdateConfig"]["Order"] == "start-first"
    assert svc["UpdateConfig"]["FailureAction"] == "rollback"
    assert task["Networks"] == [{"Target": "tenants"}]


def test_hardening_and_volume() -> None:
    c = _backend()._service_spec(_spec())["TaskTemplate"]["ContainerSpec"]
    assert c["ReadOnly"] is True and c["CapabilityDrop"] == ["ALL"]
    assert c["User"] == "10001:10001"
    data, tmp = c["Mounts"]
    assert (data["Type"], data["Target"], data["Source"]) == (
        "volume",
        "/data",
        "berth-acme-0b6c7a521111-data",
    )
    assert data["VolumeOptions"]["Labels"]["berth.instance"] == "prod"
    assert (tmp["Type"], tmp["Target"]) == ("tmpfs", "/tmp")
    assert tmp["TmpfsOptions"]["Mode"] == 0o1777
    # API 1.41 (Docker 20.10) cannot express no-new-privileges for services; 1.46 can.
    assert "Privileges" not in c
    newer = _backend("1.46")._service_spec(_spec())["TaskTemplate"]["ContainerSpec"]
    assert newer["Privileges"] == {"NoNewPrivileges": True}


def test_service_labels_carry_traefik_swarm_keys_and_the_instance() -> None:
    labels = _backend()._service_spec(_spec())["Labels"]
    assert labels["berth.instance"] == "prod"
    assert labels["traefik.swarm.network"] == "tenants"
    assert labels["traefik.swarm.lbswarm"] == "false"
    assert labels["traefik.http.routers.berth-acme.rule"] == "Host(`acme.example.com`)"


def test_placement_constraints_follow_the_plan() -> None:
    b = _backend(placement={"pro": ["node.labels.berth.pool==pro"]})
    assert b._service_spec(_spec("pro"))["TaskTemplate"]["Placement"]["Constraints"] == [
        "node.labels.berth.pool==pro"
    ]
    assert b._service_spec(_spec("free"))["TaskTemplate"]["Placement"]["Constraints"] == []


def test_task_states_map_onto_container_states() -> None:
    def task(state: str, desired: str = "running") -> dict[str, Any]:
        return {"Status": {"State": state}, "DesiredState": desired}

    assert task_state(0, task("running"), 0) == "exited"  # scaled to 0: stopped
    assert task_state(1, task("running"), 0) == "running"
    assert task_state(1, task("starting"), 0) == "created"
    assert task_state(1, task("starting"), 2) == "restarting"
    assert task_state(1, task("failed", "shutdown"), 5) == "exited"
    assert task_state(1, None, 0) == "created"
