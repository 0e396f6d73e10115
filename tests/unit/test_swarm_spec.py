"""The Swarm service spec built from a tenant's container spec (pure: no engine calls)."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.runtime.docker import CountingAPIClient
from provisioner.runtime.swarm import SwarmBackend
from provisioner.runtime.swarm_tasks import (
    last_failed,
    lines_between,
    newest,
    parse_timestamp,
    stray_containers,
    task_address,
    task_state,
    up_status,
)
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
    # The gap between a failed task and its replacement is a restart, not a stop:
    # the failure not yet seen by the orchestrator, then the replacement waiting out
    # the restart delay.
    assert task_state(1, task("failed"), 1) == "restarting"
    assert task_state(1, task("new", "ready"), 1) == "restarting"


def test_the_current_task_is_the_replacement_not_the_failed_one() -> None:
    failed = _task(7, "failed", 3)  # marked shutdown by the restart supervisor
    waiting = _task(6, "new", 0, desired="ready")  # created in the same transaction
    assert newest([failed, waiting]) is waiting
    assert task_state(1, newest([failed, waiting]), 1) == "restarting"
    # Attempts spent: Swarm creates no replacement, so the service has stopped.
    assert task_state(1, newest([failed]), 5) == "exited"


def _task(index: int, state: str, exit_code: int, desired: str = "shutdown") -> dict[str, Any]:
    return {
        "ID": f"t{index}",
        "ServiceID": "svc",
        "Version": {"Index": index},
        "DesiredState": desired,
        "Status": {
            "State": state,
            "Timestamp": "2026-12-06T09:00:00.123456789Z",
            "ContainerStatus": {"ContainerID": f"c{index}", "ExitCode": exit_code},
        },
    }


def test_task_uptime_reads_like_dockers_status_line() -> None:
    # The reconciler reads uptime from `docker ps`'s status line: a task's reads the same.
    assert up_status(0.2) == "Up Less than a second"
    assert up_status(1.5) == "Up 1 second" and up_status(42.9) == "Up 42 seconds"
    assert up_status(90) == "Up About a minute" and up_status(600) == "Up 10 minutes"
    assert parse_timestamp("2026-12-06T09:00:00.123456789Z") == pytest.approx(1796547600.123457)
    assert parse_timestamp("2026-12-06T10:00:00+01:00") == 1796547600.0
    assert parse_timestamp("0001-01-01T00:00:00Z") is None and parse_timestamp("") is None


def test_a_running_service_reports_its_failed_tasks_as_restarts() -> None:
    svc = {
        "ID": "svc",
        "Spec": {
            "Name": "berth-acme",
            "Mode": {"Replicated": {"Replicas": 1}},
            "TaskTemplate": {"ContainerSpec": {"Labels": {"berth.tenant": "acme"}}},
        },
    }
    tasks = [_task(5, "failed", 137), _task(9, "failed", 3), _task(12, "running", 0, "running")]
    assert last_failed(tasks) == tasks[1]
    info = _backend()._info(svc, tasks, {})
    assert info.state == "running" and info.restart_count == 2
    assert info.exit_code == 3  # how the last failed task ended
    assert (info.status or "").startswith("Up ")
    assert last_failed([tasks[2]]) is None


def test_service_logs_are_cut_to_the_window_and_unstamped() -> None:
    # What the engine answers for /services/{id}/logs?timestamps=true.
    stamped = (
        "2026-12-06T09:00:00.500000000Z before\n"
        "2026-12-06T09:00:01.000000000Z first: key=x\n"
        "2026-12-06T09:00:01.999000000Z second\n"
        "2026-12-06T09:00:02.000000000Z later\n"
    )
    t0 = parse_timestamp("2026-12-06T09:00:01Z")
    assert t0 is not None
    assert lines_between(stamped, t0, t0 + 1) == "first: key=x\nsecond\n"
    assert lines_between(stamped, t0 + 1, t0 + 2) == "later\n"
    assert lines_between("", t0, t0 + 1) == ""


def test_inspect_reports_an_oom_killed_task_from_its_kept_container(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    svc = {
        "ID": "svc",
        "Spec": {
            "Name": "berth-acme",
            "Mode": {"Replicated": {"Replicas": 1}},
            "TaskTemplate": {"ContainerSpec": {"Labels": {}}},
        },
    }
    tasks = [_task(5, "failed", 137), _task(12, "running", 0, "running")]
    b = _backend()
    inspected: list[str] = []

    def container(cid: str) -> dict[str, Any]:
        inspected.append(cid)
        return {"State": {"OOMKilled": cid == "c5"}}

    monkeypatch.setattr(b.api, "inspect_service", lambda _id: svc)
    monkeypatch.setattr(b.api, "tasks", lambda filters: tasks)
    monkeypatch.setattr(b.api, "inspect_container", container)
    monkeypatch.setattr(b, "_gateway_ips", dict)
    info = b.inspect("svc")
    assert info is not None and info.oom_killed and info.restart_count == 1
    assert info.exit_code == 137 and inspected == ["c5"]  # the failed task's container
    # A service that never failed costs no container inspect.
    monkeypatch.setattr(b.api, "tasks", lambda filters: tasks[1:])
    info = b.inspect("svc")
    assert info is not None and not info.oom_killed and inspected == ["c5"]


def test_a_task_is_probed_on_the_overlay_it_is_on() -> None:
    def att(name: str, addr: str) -> dict[str, Any]:
        return {"Network": {"Spec": {"Name": name}}, "Addresses": [addr + "/24"]}

    open_task = {"NetworksAttachments": [att("berth-tenants", "10.0.1.5")]}
    sealed = {"NetworksAttachments": [att("berth-tenants-internal", "10.0.2.7")]}
    both = {"NetworksAttachments": [att("other", "10.0.3.2"), att("berth-tenants", "10.0.1.6")]}
    assert task_address(open_task, "berth-tenants") == "10.0.1.5"
    # Egress `none`: the internal overlay is its only network, and it is probed there.
    assert task_address(sealed, "berth-tenants") == "10.0.2.7"
    assert task_address(both, "berth-tenants") == "10.0.1.6"
    assert task_address({"NetworksAttachments": []}, "berth-tenants") is None


def test_a_container_of_an_ended_task_is_a_stray_and_a_stopping_one_is_not() -> None:
    def t(tid: str, desired: str, state: str) -> dict[str, Any]:
        return {"ID": tid, "DesiredState": desired, "Status": {"State": state}}

    def ps(cid: str, tid: str) -> dict[str, Any]:
        return {"Id": cid, "Labels": {"com.docker.swarm.task.id": tid}}

    tasks = [
        t("current", "running", "running"),
        t("restarted-by-hand", "shutdown", "complete"),  # Swarm replaced it; it runs again
        t("stopping", "shutdown", "running"),  # a scale to 0 or a swap under way
        t("replacement", "ready", "pending"),
    ]
    running = [ps("c1", "current"), ps("c2", "restarted-by-hand"), ps("c3", "stopping")]
    assert stray_containers(running, tasks) == ["c2"]
    assert stray_containers([], tasks) == []
