"""The runtime-backend contract.

Rules every backend follows:
- Every method is synchronous and may block on the engine; callers run them off the
  event loop.
- Engine errors are translated into RuntimeBackendError (or a subclass), raised
  `from` the original, so callers never see SDK exception types.
- Teardown is idempotent: removing something that is already gone (404) or already
  being removed (409) is success.
- Nothing here reads PostgreSQL: a backend knows containers, not tenants.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


class RuntimeBackendError(Exception):
    """The engine refused or failed an operation."""


class EngineUnavailable(RuntimeBackendError):
    """The engine did not answer at all."""


class NameConflict(RuntimeBackendError):
    """A container with that name already exists (another worker got there first)."""


class ImageMissing(RuntimeBackendError):
    """The image is not on the engine and cannot be pulled."""


@dataclass(frozen=True)
class ContainerSpec:
    """Everything needed to create one tenant container; built by provisioner.spec."""

    name: str
    image: str
    labels: Mapping[str, str]
    env: Mapping[str, str]
    user: str
    network: str
    volume: str
    volume_labels: Mapping[str, str]
    cpu: float
    memory_mb: int
    pids: int
    tmpfs_mb: int
    hostname: str
    extra: Mapping[str, Any] = field(default_factory=dict)
    network_internal: bool = False  # egress `none`: a Docker internal network
    runtime: str | None = None  # OCI runtime (HostConfig.Runtime); None: engine default


@dataclass(frozen=True)
class ContainerInfo:
    """What the engine reports about one container."""

    id: str
    name: str
    labels: Mapping[str, str]
    state: str  # created | running | paused | restarting | exited | dead | removing
    ip: str | None = None
    health: str | None = None  # starting | healthy | unhealthy | None (no healthcheck)
    exit_code: int | None = None
    oom_killed: bool = False
    restart_count: int = 0
    started_at: str | None = None
    status: str | None = None  # the engine's human status line, e.g. "Up 5 seconds"

    @property
    def running(self) -> bool:
        return self.state == "running"


class RuntimeBackend(abc.ABC):
    """What the provisioner needs from an engine."""

    # Whether pause()/resume() (the cgroup freezer) exist; Swarm has no equivalent.
    supports_freeze: bool = True
    # Whether a tenant on an internal network (egress `none`) can be health-probed.
    supports_sealed_egress: bool = True

    @abc.abstractmethod
    def ping(self) -> None:
        """Return when the engine answers; raise EngineUnavailable otherwise."""

    @abc.abstractmethod
    def ensure_network(
        self, name: str, *, labels: Mapping[str, str], internal: bool = False
    ) -> None:
        """Create the tenants network if missing (inter-container traffic disabled)."""

    @abc.abstractmethod
    def ensure(self, spec: ContainerSpec) -> ContainerInfo:
        """Create `spec.name` if it does not exist, start it if not running, and return it.

        Raises NameConflict only when a container of that name exists with a different
        `berth.generation` label than the spec's; the caller decides what to do.
        """

    @abc.abstractmethod
    def start(self, container_id: str) -> None:
        """Start a stopped container; starting a running one is a no-op."""

    @abc.abstractmethod
    def stop(self, container_id: str, *, timeout: int = 10) -> None:
        """Stop a container so that its restart policy does not bring it back.

        Already stopped or gone is success.
        """

    @abc.abstractmethod
    def remove(self, container_id: str) -> None:
        """Force-remove a container. Already gone (404) or being removed (409) is success."""

    @abc.abstractmethod
    def remove_volume(self, name: str) -> None:
        """Remove a named volume. Already gone is success."""

    @abc.abstractmethod
    def inspect(self, container_id: str) -> ContainerInfo | None:
        """The container's current state, or None when it does not exist."""

    def strays(self, labels: Mapping[str, str]) -> list[str]:
        """Engine container IDs, carrying `labels`, that run although the engine's own
        bookkeeping has ended them, so `list` cannot show them (none on Docker)."""
        return []

    def remove_stray(self, container_id: str) -> None:
        """Force-remove a container that `strays` reported."""
        raise NotImplementedError

    @abc.abstractmethod
    def list(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        """All containers (running or not) carrying every label in `labels`, in one call."""

    @abc.abstractmethod
    def pause(self, container_id: str) -> None:
        """Freeze a container's processes (memory is kept)."""

    @abc.abstractmethod
    def resume(self, container_id: str) -> None:
        """Thaw a frozen container."""

    @abc.abstractmethod
    def stats(self, container_id: str) -> dict[str, Any]:
        """One-shot resource usage (no streaming)."""

    @abc.abstractmethod
    def runtimes(self) -> tuple[str, ...]:
        """The OCI runtimes the engine offers (e.g. runc, runsc)."""

    @abc.abstractmethod
    def logs(self, container_id: str, *, since: float, until: float) -> str:
        """The container's stdout and stderr written in [since, until) (epoch seconds).

        A container that is gone has no logs: the result is then empty.
        """

    @abc.abstractmethod
    def inspect_raw(self, container_id: str) -> dict[str, Any] | None:
        """The engine's full inspect document for one container, or None when gone.

        For audits (the security preflight) that must see every setting as the engine
        applied it; everything else uses inspect().
        """

    @abc.abstractmethod
    def engine_info(self) -> dict[str, Any]:
        """The engine's system info merged with its version report ("Version" key).

        Keys follow the Docker API's /info; "Version" holds /version.
        """

    @abc.abstractmethod
    def network_raw(self, name: str) -> dict[str, Any] | None:
        """A network's full inspect document, or None when no network has that name."""

    @abc.abstractmethod
    def events(
        self,
        labels: Mapping[str, str],
        *,
        since: float | None = None,
        until: float | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Stream container events carrying `labels`, replaying from `since` (epoch seconds).

        With `until`, the iterator ends after the events up to that time (a bounded
        read). Otherwise it ends, or raises EngineUnavailable, when the engine
        connection drops; callers reconnect with `since` set to the last event handled.
        """
