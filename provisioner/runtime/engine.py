"""Which container engine Berth talks to: Docker first, then Podman's Docker-compatible API.

Order (the first that answers `GET /_ping` wins):

1. `DOCKER_HOST` (and `DOCKER_TLS_VERIFY` / `DOCKER_CERT_PATH`) when set: honoured
   exclusively, never second-guessed; it may point at Docker or at Podman.
2. Docker's socket, `/var/run/docker.sock`.
3. Podman, rootless: `$XDG_RUNTIME_DIR/podman/podman.sock` (`systemctl --user start
   podman.socket`).
4. Podman, rootful: `/run/podman/podman.sock` (`systemctl start podman.socket`).

When nothing answers, `NoEngine` says how to start one. `client_kwargs()` is what the
runtime backend builds its client from; `detect()` also reports the engine's name,
version and OCI runtimes (runc, crun, runsc), for `berth run` and the security
preflight (`berth doctor`): `detect().as_dict()`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import docker
import docker.constants
import docker.utils
import requests
from docker.errors import DockerException

from provisioner.runtime.base import EngineUnavailable

DOCKER_SOCKET = "unix:///var/run/docker.sock"
PODMAN_ROOTFUL_SOCKET = "unix:///run/podman/podman.sock"

HOW_TO_START = (
    "start Docker (`systemctl start docker`) or Podman's Docker-compatible socket "
    "(`systemctl start podman.socket`, rootless: `systemctl --user start podman.socket`, "
    "or `podman system service --time=0 unix:///run/podman/podman.sock &`), "
    "or point DOCKER_HOST at a running engine"
)


class NoEngine(EngineUnavailable):
    """No container engine answered at any of the places Berth looks."""


@dataclass(frozen=True)
class Candidate:
    base_url: str
    source: str  # why Berth looked here


@dataclass(frozen=True)
class Engine:
    """The engine Berth found, as `berth doctor` shows it."""

    name: str  # "docker" or "podman"
    version: str
    api_version: str
    base_url: str
    source: str
    os: str = ""
    runtimes: list[str] = field(default_factory=list)
    default_runtime: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def candidates(env: Mapping[str, str] | None = None) -> list[Candidate]:
    """Where to look, in order (see the module docstring)."""
    env = os.environ if env is None else env
    if env.get("DOCKER_HOST"):
        return [Candidate(env["DOCKER_HOST"], "DOCKER_HOST")]
    found = [Candidate(DOCKER_SOCKET, "docker socket")]
    if env.get("XDG_RUNTIME_DIR"):
        rootless = f"unix://{env['XDG_RUNTIME_DIR'].rstrip('/')}/podman/podman.sock"
        found.append(Candidate(rootless, "podman socket (rootless)"))
    found.append(Candidate(PODMAN_ROOTFUL_SOCKET, "podman socket (rootful)"))
    return found


def _kwargs(candidate: Candidate, env: Mapping[str, str]) -> dict[str, Any]:
    if candidate.source == "DOCKER_HOST":
        # TLS settings come with DOCKER_HOST; let the SDK read all of them.
        return dict(docker.utils.kwargs_from_env(environment=dict(env)))
    return {"base_url": candidate.base_url}


def _answers(kwargs: dict[str, Any], timeout: int) -> bool:
    try:
        # The oldest API version the SDK speaks: `/_ping` answers on any engine.
        client = docker.APIClient(
            version=docker.constants.MINIMUM_DOCKER_API_VERSION, timeout=timeout, **kwargs
        )
    except DockerException:
        return False
    try:
        return bool(client.ping())
    except (DockerException, requests.exceptions.RequestException):
        return False
    finally:
        client.close()


def _first(env: Mapping[str, str] | None, timeout: int) -> tuple[Candidate, dict[str, Any]]:
    env = os.environ if env is None else env
    tried = candidates(env)
    for candidate in tried:
        kwargs = _kwargs(candidate, env)
        if _answers(kwargs, timeout):
            return candidate, kwargs
    where = ", ".join(f"{c.base_url} ({c.source})" for c in tried)
    raise NoEngine(f"no container engine answers at {where}; {HOW_TO_START}")


def client_kwargs(env: Mapping[str, str] | None = None, *, timeout: int = 3) -> dict[str, Any]:
    """Keyword arguments for `docker.APIClient` that reach the first engine that answers.

    Raises NoEngine (with how to start one) when none does.
    """
    return _first(env, timeout)[1]


def engine_name(version: Mapping[str, Any]) -> str:
    """ "podman" or "docker", from the engine's `GET /version` answer."""
    components = " ".join(str(c.get("Name", "")) for c in version.get("Components") or [])
    platform = str((version.get("Platform") or {}).get("Name", ""))
    return "podman" if "podman" in f"{components} {platform}".lower() else "docker"


def detect(env: Mapping[str, str] | None = None, *, timeout: int = 3) -> Engine:
    """The engine Berth would use: name, version, API version and OCI runtimes."""
    candidate, kwargs = _first(env, timeout)
    client = docker.APIClient(version="auto", timeout=max(timeout, 10), **kwargs)
    try:
        version = client.version()
        info = client.info()
    except (DockerException, requests.exceptions.RequestException) as exc:
        raise NoEngine(f"the engine at {candidate.base_url} stopped answering: {exc}") from exc
    finally:
        client.close()
    return Engine(
        name=engine_name(version),
        version=str(version.get("Version", "unknown")),
        api_version=str(version.get("ApiVersion", "unknown")),
        base_url=candidate.base_url,
        source=candidate.source,
        os=str(info.get("OperatingSystem", "")),
        runtimes=sorted((info.get("Runtimes") or {}).keys()),
        default_runtime=info.get("DefaultRuntime"),
    )
