"""DockerBackend: the runtime contract over the Docker SDK's low-level API client.

The low-level client is used on purpose: `containers.list()` in the high-level API
inspects every container (one call each), where `api.containers()` is one call.
"""

from __future__ import annotations

import functools
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import docker
from docker.errors import APIError, NotFound
from docker.types import LogConfig, Mount

from provisioner.runtime.base import (
    ContainerInfo,
    ContainerSpec,
    EngineUnavailable,
    NameConflict,
    RuntimeBackend,
    RuntimeBackendError,
)
from provisioner.runtime.cgroups import CgroupReader
from provisioner.runtime.docker_errors import ENGINE_ERRORS, translate
from provisioner.runtime.docker_info import info_from_inspect, info_from_list
from provisioner.runtime.engine import client_kwargs, engine_name
from provisioner.spec import LABEL_BLUEPRINT, LABEL_GENERATION

MUTATING = ("POST", "PUT", "DELETE")


class CountingAPIClient(docker.APIClient):
    """An APIClient that counts engine calls by HTTP method (for tests and benchmarks)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.calls: Counter[str] = Counter()
        self._calls_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def _count(self, method: str) -> None:
        with self._calls_lock:
            self.calls[method] += 1

    # The stubs do not declare APIClient's private HTTP helpers; they exist at runtime.
    def _get(self, url: str, **kwargs: Any) -> Any:
        self._count("GET")
        return super()._get(url, **kwargs)  # type: ignore[misc]

    def _post(self, url: str, **kwargs: Any) -> Any:
        self._count("POST")
        return super()._post(url, **kwargs)  # type: ignore[misc]

    def _put(self, url: str, **kwargs: Any) -> Any:
        self._count("PUT")
        return super()._put(url, **kwargs)  # type: ignore[misc]

    def _delete(self, url: str, **kwargs: Any) -> Any:
        self._count("DELETE")
        return super()._delete(url, **kwargs)  # type: ignore[misc]

    def mutating_calls(self) -> int:
        return sum(self.calls[m] for m in MUTATING)


class DockerBackend(RuntimeBackend):
    """Tenant containers on one Docker engine."""

    def __init__(
        self,
        client: CountingAPIClient | None = None,
        *,
        network: str | None = None,
        host_counters: CgroupReader | None = None,
    ):
        # Docker first, then Podman's Docker-compatible socket; NoEngine says how to start one.
        self.api = client or CountingAPIClient(version="auto", timeout=60, **client_kwargs())
        self.network = network
        # None: every stats call asks the engine (BERTH_STATS_SOURCE=engine).
        self.host_counters = host_counters
        self._networks_ready: set[str] = set()
        self._network_lock = threading.Lock()
        self._network_ids: dict[str, str] = {}

    def ping(self) -> None:
        try:
            self.api.ping()
        except ENGINE_ERRORS as exc:
            raise EngineUnavailable("Docker engine does not answer") from exc

    def ensure_network(
        self, name: str, *, labels: Mapping[str, str], internal: bool = False
    ) -> None:
        if name in self._networks_ready:
            return
        with self._network_lock:
            if name in self._networks_ready:
                return
            try:
                existing = self._networks_named(name)
                if any(bool(n.get("Internal")) != internal for n in existing):
                    # Never attach a tenant to a network other than its egress mode asks.
                    raise RuntimeBackendError(
                        f"network {name} exists with internal={not internal}; "
                        f"its egress mode needs internal={internal}"
                    )
                if len(existing) != 1:
                    self._create_network(name, labels=labels, internal=internal, existing=existing)
                    self._dedupe_network(name)
            except ENGINE_ERRORS as exc:
                raise translate(exc, f"ensure network {name}") from exc
            self._networks_ready.add(name)

    def _create_network(
        self, name: str, *, labels: Mapping[str, str], internal: bool, existing: list[Any]
    ) -> None:
        if existing:
            return
        try:
            self.api.create_network(
                name,
                driver="bridge",
                internal=internal,
                labels=dict(labels),
                options={"com.docker.network.bridge.enable_icc": "false"},
                check_duplicate=True,
            )
        except APIError as exc:
            if exc.status_code != 409:
                raise

    def _networks_named(self, name: str) -> list[dict[str, Any]]:
        # The engine's name filter matches substrings; keep exact matches only.
        return [n for n in self.api.networks(names=[name]) if n.get("Name") == name]

    def _dedupe_network(self, name: str) -> None:
        """Keep the oldest of same-named networks.

        check_duplicate is not atomic in the engine: two processes creating the
        network at once can both succeed, and the name then becomes ambiguous.
        """
        nets = sorted(self._networks_named(name), key=lambda n: (n.get("Created", ""), n["Id"]))
        if len(nets) > 1:
            self._network_ids[name] = nets[0]["Id"]
        for extra in nets[1:]:
            try:
                self.api.remove_network(extra["Id"])
            except APIError:
                continue  # in use; containers are attached by the kept network's ID

    def _ensure_volume(self, spec: ContainerSpec) -> None:
        # Creating an existing named volume is a no-op that returns it.
        self.api.create_volume(spec.volume, driver="local", labels=dict(spec.volume_labels))

    @functools.cached_property
    def engine(self) -> str:
        """ "docker" or "podman": Podman's Docker-compatible API differs in a few options."""
        try:
            return engine_name(self.api.version())
        except ENGINE_ERRORS as exc:
            raise translate(exc, "engine version") from exc

    def _tmp_owner(self, user: str) -> str:
        if self.engine == "podman":
            return "U"  # Podman 4 has no uid=/gid= tmpfs options; U chowns to the user
        uid, _, gid = user.partition(":")
        return f"uid={uid},gid={gid or uid}"

    def _create(self, spec: ContainerSpec) -> str:
        host_config = self.api.create_host_config(
            mounts=[Mount(target="/data", source=spec.volume, type="volume")],
            tmpfs={
                # The owner options keep /tmp writable for the tenant user after a
                # restart; without them Docker 20.10 re-creates it as root 0755.
                "/tmp": f"rw,noexec,nosuid,nodev,size={spec.tmpfs_mb}m,"
                f"{self._tmp_owner(spec.user)},mode=1777"
            },
            read_only=True,
            mem_limit=f"{spec.memory_mb}m",
            memswap_limit=f"{spec.memory_mb}m",
            nano_cpus=int(spec.cpu * 1_000_000_000),
            pids_limit=spec.pids,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
            restart_policy={"Name": "on-failure", "MaximumRetryCount": 5},
            # By ID only when a duplicate could not be removed and the name is ambiguous.
            network_mode=self._network_ids.get(spec.network, spec.network),
            ipc_mode="private",
            log_config=LogConfig(type="json-file", config={"max-size": "10m", "max-file": "3"}),
            # Only when asked: an unset Runtime is the engine's default, never a fallback.
            runtime=spec.runtime,
            **spec.extra,
        )
        created = self.api.create_container(
            image=spec.image,
            name=spec.name,
            hostname=spec.hostname,
            user=spec.user,
            environment=dict(spec.env),
            labels=dict(spec.labels),
            host_config=host_config,
        )
        return str(created["Id"])

    def _ensure_spec_network(self, spec: ContainerSpec) -> None:
        # The network outlives any one tenant: it carries the stack's labels, not the tenant's.
        self.ensure_network(
            spec.network,
            labels={
                k: v
                for k, v in spec.volume_labels.items()
                if k in ("berth.managed", "berth.instance")
            },
            internal=spec.network_internal,
        )

    def _adopt(self, spec: ContainerSpec, exc: APIError) -> str:
        """The id of what already holds `spec.name` after a create failed with `exc`.

        A retried task finds its own earlier attempt under the name (a 409): that is
        adopted when it has the spec's generation and blueprint. Another generation is
        a NameConflict; any other failure is re-raised.
        """
        if exc.status_code != 409:
            raise exc
        existing = self.inspect(spec.name)
        if existing is None:
            raise exc
        if any(
            existing.labels.get(k) != spec.labels.get(k)
            for k in (LABEL_GENERATION, LABEL_BLUEPRINT)
        ):
            raise NameConflict(
                f"{spec.name} exists with generation {existing.labels.get(LABEL_GENERATION)}"
            ) from exc
        return existing.id

    def ensure(self, spec: ContainerSpec) -> ContainerInfo:
        try:
            self._ensure_spec_network(spec)
            self._ensure_volume(spec)
            try:
                container_id = self._create(spec)
            except APIError as exc:
                container_id = self._adopt(spec, exc)
            self.api.start(container_id)
            info = self.inspect(container_id)
        except RuntimeBackendError:
            raise
        except ENGINE_ERRORS as exc:
            raise translate(exc, f"ensure {spec.name}") from exc
        if info is None:
            raise RuntimeBackendError(f"{spec.name} vanished right after start")
        return info

    def start(self, container_id: str) -> None:
        try:
            self.api.start(container_id)
        except ENGINE_ERRORS as exc:
            raise translate(exc, f"start {container_id[:12]}") from exc

    def stop(self, container_id: str, *, timeout: int = 10) -> None:
        try:
            self.api.stop(container_id, timeout=timeout)
        except NotFound:
            return
        except APIError as exc:
            if exc.status_code in (304, 404):
                return
            raise translate(exc, f"stop {container_id[:12]}") from exc
        except ENGINE_ERRORS as exc:
            raise translate(exc, f"stop {container_id[:12]}") from exc

    def remove(self, container_id: str) -> None:
        try:
            self.api.remove_container(container_id, force=True, v=False)
        except NotFound:
            return
        except APIError as exc:
            if exc.status_code in (404, 409):
                return
            raise translate(exc, f"remove {container_id[:12]}") from exc
        except ENGINE_ERRORS as exc:
            raise translate(exc, f"remove {container_id[:12]}") from exc

    def remove_volume(self, name: str) -> None:
        try:
            self.api.remove_volume(name, force=True)
        except NotFound:
            return
        except APIError as exc:
            if exc.status_code == 404:
                return
            raise translate(exc, f"remove volume {name}") from exc
        except ENGINE_ERRORS as exc:
            raise translate(exc, f"remove volume {name}") from exc

    def inspect(self, container_id: str) -> ContainerInfo | None:
        try:
            data = self.api.inspect_container(container_id)
        except NotFound:
            return None
        except ENGINE_ERRORS as exc:
            raise translate(exc, f"inspect {container_id[:12]}") from exc
        return info_from_inspect(data, self.network)

    def list(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        try:
            items = self.api.containers(all=True, filters=filters)
        except ENGINE_ERRORS as exc:
            raise translate(exc, "list containers") from exc
        return [info_from_list(item, self.network) for item in items]

    def pause(self, container_id: str) -> None:
        try:
            self.api.pause(container_id)
        except ENGINE_ERRORS as exc:
            raise translate(exc, f"pause {container_id[:12]}") from exc

    def resume(self, container_id: str) -> None:
        try:
            self.api.unpause(container_id)
        except ENGINE_ERRORS as exc:
            raise translate(exc, f"unpause {container_id[:12]}") from exc

    def stats(self, container_id: str) -> dict[str, Any]:
        """One-shot usage: from the host's cgroup and /proc counters when they are
        visible (microseconds), else the engine's stats call (its next ~1 s tick)."""
        if self.host_counters is not None:
            paths = self.host_counters.find(container_id)
            if paths is not None and (local := self.host_counters.stats(paths)) is not None:
                return local
        try:
            data: dict[str, Any] = self.api.stats(container_id, stream=False, one_shot=True)
        except ENGINE_ERRORS as exc:
            raise translate(exc, f"stats {container_id[:12]}") from exc
        return data

    def runtimes(self) -> tuple[str, ...]:
        try:
            info: dict[str, Any] = self.api.info()
        except ENGINE_ERRORS as exc:
            raise translate(exc, "info") from exc
        return tuple(sorted((info.get("Runtimes") or {}).keys()))

    def logs(self, container_id: str, *, since: float, until: float) -> str:
        try:
            raw = self.api.logs(
                container_id, stdout=True, stderr=True, since=since, until=until, stream=False
            )
        except NotFound:
            return ""
        except ENGINE_ERRORS as exc:
            raise translate(exc, f"logs {container_id[:12]}") from exc
        return bytes(raw).decode(errors="replace")

    def inspect_raw(self, container_id: str) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = self.api.inspect_container(container_id)
        except NotFound:
            return None
        except ENGINE_ERRORS as exc:
            raise translate(exc, f"inspect {container_id[:12]}") from exc
        return data

    def engine_info(self) -> dict[str, Any]:
        try:
            info: dict[str, Any] = self.api.info()
            info["Version"] = self.api.version()
        except ENGINE_ERRORS as exc:
            raise translate(exc, "engine info") from exc
        return info

    def network_raw(self, name: str) -> dict[str, Any] | None:
        try:
            nets = self._networks_named(name)
            if not nets:
                return None
            data: dict[str, Any] = self.api.inspect_network(nets[0]["Id"])
        except NotFound:
            return None
        except ENGINE_ERRORS as exc:
            raise translate(exc, f"inspect network {name}") from exc
        return data

    def events(
        self,
        labels: Mapping[str, str],
        *,
        since: float | None = None,
        until: float | None = None,
    ) -> Iterator[dict[str, Any]]:
        filters = {
            "type": ["container"],
            "label": [f"{k}={v}" for k, v in labels.items()],
            "event": ["oom", "die", "start", "health_status"],
        }
        try:
            # `since` floored to whole seconds (a wider replay is harmless: callers
            # compare timeNano); `until` exact, as the engine holds the stream open
            # until then when it lies in the future. The engine takes "<s>.<ns>"; the
            # SDK's stubs only know whole seconds.
            start = int(since) if since is not None else None
            end = f"{until:.9f}" if until is not None else None
            yield from self.api.events(  # type: ignore[call-overload]
                since=start, until=end, filters=filters, decode=True
            )
        except ENGINE_ERRORS as exc:
            raise translate(exc, "events") from exc
