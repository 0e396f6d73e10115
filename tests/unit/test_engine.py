"""Where Berth looks for a container engine, and in which order (pure: no engine)."""

from __future__ import annotations

import pytest

from provisioner.runtime.engine import (
    HOW_TO_START,
    NoEngine,
    candidates,
    client_kwargs,
    engine_name,
)


def test_docker_first_then_podman_rootless_then_rootful() -> None:
    found = candidates({"XDG_RUNTIME_DIR": "/run/user/1000"})
    assert [c.base_url for c in found] == [
        "unix:///var/run/docker.sock",
        "unix:///run/user/1000/podman/podman.sock",
        "unix:///run/podman/podman.sock",
    ]


def test_without_xdg_runtime_dir_there_is_no_rootless_candidate() -> None:
    assert [c.source for c in candidates({})] == ["docker socket", "podman socket (rootful)"]


def test_docker_host_is_honoured_exclusively() -> None:
    found = candidates({"DOCKER_HOST": "tcp://10.0.0.5:2375", "XDG_RUNTIME_DIR": "/run/user/1"})
    assert [(c.base_url, c.source) for c in found] == [("tcp://10.0.0.5:2375", "DOCKER_HOST")]


def test_nothing_answering_names_where_it_looked_and_how_to_start_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Sockets that do not exist: nothing can answer, so this needs no engine.
    env = {"DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    with pytest.raises(NoEngine) as exc:
        client_kwargs(env)
    assert f"{tmp_path}/none.sock (DOCKER_HOST)" in str(exc.value)
    assert HOW_TO_START in str(exc.value) and "podman.socket" in HOW_TO_START


def test_engine_name_from_the_version_answer() -> None:
    podman = {
        "Platform": {"Name": "linux/amd64/debian-12"},
        "Components": [{"Name": "Podman Engine", "Version": "4.3.1"}],
    }
    docker = {"Platform": {"Name": ""}, "Components": [{"Name": "Engine"}]}
    assert engine_name(podman) == "podman" and engine_name(docker) == "docker"
