"""SwarmBackend: each tenant "container" of the contract is one Docker Swarm service.

The contract's container ID is the service ID and its name the service name, so
blue/green, pins, waves and the reconciler work unchanged: a second colour is a
second service beside the first, and removing the old colour removes its service.
State, address and restart count come from the service's tasks.

What differs from the Docker backend, and why:
- The tenants network is an attachable overlay. Overlay networks have no
  `enable_icc=false`, so tenants on it can reach each other (see README).
- Swarm's API (1.41 on Docker 20.10) has no no-new-privileges and no memory-swap
  setting for services; no-new-privileges is set from API 1.46 on.
- freeze (the cgroup freezer) has no Swarm equivalent: pause/resume are refused, and
  pause-by-stop scales the service to 0 replicas.
- Logs are the service's (the manager gathers every node's tasks); stats, the
  gateway probe and a failed task's OOM flag are read on this node only.
- Engine events are per node. On one node the task containers' events carry the
  service's container labels and are mapped to the service ID here; on many nodes
  the watcher runs on each node (a global service) or the reconciler's task-state
  sweep catches what it misses.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Mapping
from typing import Any

from docker.errors import APIError, NotFound

from provisioner.runtime.base import (
    ContainerInfo,
    ContainerSpec,
    RuntimeBackendError,
)
from provisioner.runtime.docker import DockerBackend
from provisioner.runtime.docker_errors import ENGINE_ERRORS, translate
from provisioner.runtime.swarm_spec import STOP_GRACE, service_spec
from provisioner.runtime.swarm_tasks import (
    TASK_ID_LABEL,
    last_failed,
    lines_between,
    newest,
    service_info,
    stray_containers,
)

SERVICE_ID_LABEL = "com.docker.swarm.service.id"
GATEWAY_NETWORK = "docker_gwbridge"
# A volume stays "in use" until the removed service's task container is gone.
VOLUME_RELEASE_TIMEOUT = 30.0
REMOVE_TIMEOUT = STOP_GRACE + 20.0


class FreezeUnsupported(RuntimeBackendError):
    """The Swarm runtime has no freezer: pause mode `freeze` is not available."""


class SwarmBackend(DockerBackend):
    """Tenant services on a Docker Swarm (this engine must be a manager)."""

    supports_freeze = False

    def __init__(
        self,
        *args: Any,
        probe: str = "overlay",
        placement: Mapping[str, list[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # Plan name -> Swarm placement constraints for that plan's tenants.
        self.placement = dict(placement or {})
        # "gateway": the worker runs on the node's host and reaches tasks through
        # docker_gwbridge; "overlay": the worker is attached to the tenants overlay.
        self.probe = probe
        # An internal overlay gets no docker_gwbridge leg (that leg is the egress), so a
        # probe from the node's host cannot reach its tasks.
        self.supports_sealed_egress = probe != "gateway"

    @property
    def _sdk(self) -> Any:
        # The SDK's service calls and private HTTP helpers are untyped.
        return self.api

    # --- network --------------------------------------------------------------------

    def _create_network(
        self, name: str, *, labels: Mapping[str, str], internal: bool, existing: list[Any]
    ) -> None:
        if existing:
            return
        try:
            # Attachable so Traefik and Berth's own containers can join it.
            self.api.create_network(
                name,
                driver="overlay",
                attachable=True,
                internal=internal,
                labels=dict(labels),
                scope="swarm",
                check_duplicate=True,
            )
        except APIError as exc:
            if exc.status_code != 409:
                raise

    # --- the service spec -----------------------------------------------------------

    def _service_spec(self, spec: ContainerSpec) -> dict[str, Any]:
        return service_spec(
            spec,
            api_version=self._sdk._version,
            network=self._network_ids.get(spec.network, spec.network),
            placement=self.placement,
        )

    def _create_service(self, spec: ContainerSpec) -> str:
        url = self._sdk._url("/services/create")
        res = self._sdk._post_json(url, data=self._service_spec(spec))
        return str(self._sdk._result(res, True)["ID"])

    def _update(self, service_id: str, change: Any) -> None:
        """Apply `change(spec)` to the service's current spec (optimistic, retried)."""
        for _ in range(5):
            svc = self._sdk.inspect_service(service_id)
            spec = svc["Spec"]
            change(spec)
            url = self._sdk._url("/services/{0}/update", svc["ID"])
            res = self._sdk._post_json(url, data=spec, params={"version": svc["Version"]["Index"]})
            try:
                self._sdk._result(res, True)
                return
            except APIError as exc:
                if "out of sequence" not in str(exc.explanation or ""):
                    raise
        raise RuntimeBackendError(f"update {service_id[:12]}: kept racing other updates")

    # --- the contract ---------------------------------------------------------------

    def runtimes(self) -> tuple[str, ...]:
        # A service's task spec cannot name an OCI runtime: only the engine's default
        # is usable, so a plan asking for runsc is refused at signup, never downgraded.
        try:
            info: dict[str, Any] = self.api.info()
        except ENGINE_ERRORS as exc:
            raise translate(exc, "info") from exc
        return (str(info.get("DefaultRuntime") or "runc"),)

    def ensure(self, spec: ContainerSpec) -> ContainerInfo:
        if spec.runtime and spec.runtime not in self.runtimes():
            raise RuntimeBackendError(
                f"{spec.name}: runtime {spec.runtime!r} cannot be chosen per service on Swarm"
            )
        if spec.network_internal and not self.supports_sealed_egress:
            raise RuntimeBackendError(
                f"{spec.name}: egress 'none' needs BERTH_SWARM_PROBE=overlay (the gateway "
                "probe cannot reach a task on an internal overlay)"
            )
        try:
            self._ensure_spec_network(spec)
            try:
                service_id = self._create_service(spec)
            except APIError as exc:
                service_id = self._adopt(spec, exc)
                self.start(service_id)
            info = self.inspect(service_id)
        except RuntimeBackendError:
            raise
        except ENGINE_ERRORS as exc:
            raise translate(exc, f"ensure {spec.name}") from exc
        if info is None:
            raise RuntimeBackendError(f"{spec.name} vanished right after create")
        return info

    def start(self, container_id: str) -> None:
        """Scale to 1; a service whose restart attempts are spent gets a forced update."""
        try:
            info = self.inspect(container_id)
            if info is None:
                raise RuntimeBackendError(f"start {container_id[:12]}: no such service")
            if info.running or info.state in ("created", "restarting"):
                if self._replicas(container_id) == 1:
                    return

            def change(spec: dict[str, Any]) -> None:
                replicas = spec["Mode"]["Replicated"]["Replicas"]
                spec["Mode"]["Replicated"]["Replicas"] = 1
                if replicas == 1:
                    template = spec["TaskTemplate"]
                    template["ForceUpdate"] = int(template.get("ForceUpdate") or 0) + 1

            self._update(container_id, change)
        except RuntimeBackendError:
            raise
        except ENGINE_ERRORS as exc:
            raise translate(exc, f"start {container_id[:12]}") from exc

    def _replicas(self, service_id: str) -> int:
        spec = self._sdk.inspect_service(service_id)["Spec"]
        return int(spec["Mode"]["Replicated"]["Replicas"])

    def stop(self, container_id: str, *, timeout: int = 10) -> None:
        """Scale to 0 replicas, so Swarm's restart policy does not bring it back."""

        def change(spec: dict[str, Any]) -> None:
            spec["Mode"]["Replicated"]["Replicas"] = 0

        try:
            self._update(container_id, change)
        except NotFound:
            return
        except ENGINE_ERRORS as exc:
            raise translate(exc, f"stop {container_id[:12]}") from exc
        # Like `docker stop`, return once the task has stopped (on this node).
        self._wait_local(container_id, running_only=True, timeout=timeout + STOP_GRACE)

    def _wait_local(self, service_id: str, *, running_only: bool, timeout: float) -> None:
        """Wait until this node runs (or, without running_only, has) no task of the service.

        Past `timeout` it returns anyway: the engine finishes the job on its own.
        """
        deadline = time.monotonic() + timeout
        filters: dict[str, Any] = {"label": [f"{SERVICE_ID_LABEL}={service_id}"]}
        if running_only:
            filters["status"] = ["running", "restarting"]
        try:
            while self.api.containers(all=not running_only, filters=filters):
                if time.monotonic() >= deadline:
                    return
                time.sleep(0.1)
        except ENGINE_ERRORS as exc:
            raise translate(exc, f"wait for {service_id[:12]}") from exc

    def remove(self, container_id: str) -> None:
        """Remove the service and wait until its task containers on this node are gone,
        as a Docker force-remove does (its volume is then free, its name unused)."""
        try:
            self._sdk.remove_service(container_id)
        except NotFound:
            pass
        except ENGINE_ERRORS as exc:
            raise translate(exc, f"remove {container_id[:12]}") from exc
        self._wait_local(container_id, running_only=False, timeout=REMOVE_TIMEOUT)

    def remove_volume(self, name: str) -> None:
        """Remove the volume on this node once the removed task's container lets go."""
        deadline = time.monotonic() + VOLUME_RELEASE_TIMEOUT
        while True:
            try:
                super().remove_volume(name)
                return
            except RuntimeBackendError as exc:
                cause = exc.__cause__
                busy = isinstance(cause, APIError) and cause.status_code == 409
                if not busy or time.monotonic() >= deadline:
                    raise
            time.sleep(0.2)

    def _gateway_ips(self) -> dict[str, str] | None:
        """docker_gwbridge addresses by container ID; None unless probing that way."""
        if self.probe != "gateway":
            return None
        try:
            net = self._sdk.inspect_network(GATEWAY_NETWORK)
        except NotFound:
            return {}
        return {
            cid: (c.get("IPv4Address") or "").split("/")[0]
            for cid, c in (net.get("Containers") or {}).items()
        }

    def _info(
        self, svc: dict[str, Any], tasks: list[dict[str, Any]], gateway: dict[str, str] | None
    ) -> ContainerInfo:
        return service_info(svc, tasks, gateway=gateway, network=self.network)

    def _oom_killed(self, tasks: list[dict[str, Any]]) -> bool:
        """Whether the last failed task's container was OOM-killed. Task state has no
        such flag, but a failed task's container is kept (exited) beside its
        replacement while the task is in the service's history; on another node, or
        once pruned, it is not known here and the restart counts as a crash."""
        failed = last_failed(tasks)
        cid = (((failed or {}).get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID")
        if not cid:
            return False
        try:
            data = self.api.inspect_container(cid)
        except NotFound:
            return False
        return bool((data.get("State") or {}).get("OOMKilled"))

    def inspect(self, container_id: str) -> ContainerInfo | None:
        try:
            svc = self._sdk.inspect_service(container_id)
            tasks = self._sdk.tasks(filters={"service": svc["ID"]})
            info = self._info(svc, tasks, self._gateway_ips())
            if info.restart_count:
                info = dataclasses.replace(info, oom_killed=self._oom_killed(tasks))
            return info
        except NotFound:
            return None  # the service, or (removed meanwhile) its task list
        except ENGINE_ERRORS as exc:
            raise translate(exc, f"inspect {container_id[:12]}") from exc

    def strays(self, labels: Mapping[str, str]) -> list[str]:
        """Task containers running for tasks Swarm has ended (see stray_containers)."""
        wanted = [f"{k}={v}" for k, v in labels.items()]
        try:
            # Tasks first: Swarm records a task as ended only once its container has
            # exited, so a container still running after that record was restarted
            # by someone else. Listed the other way round, a container that exits
            # between the two calls (its task failing) would look like a stray, and
            # removing it would lose its exit code and OOM flag.
            tasks = self._sdk.tasks(filters={"label": wanted})
            if not tasks:
                return []
            running = self.api.containers(filters={"label": [*wanted, TASK_ID_LABEL]})
        except ENGINE_ERRORS as exc:
            raise translate(exc, "list task containers") from exc
        return stray_containers(running, tasks)

    def remove_stray(self, container_id: str) -> None:
        """Force-remove the container itself (`remove` takes a service ID here)."""
        DockerBackend.remove(self, container_id)

    def list(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        try:
            services = self._sdk.services(filters=filters)
            # One call for every task: the task label filter matches container labels.
            tasks = self._sdk.tasks(filters=filters) if services else []
            gateway = self._gateway_ips() if services else None
        except ENGINE_ERRORS as exc:
            raise translate(exc, "list services") from exc
        return [self._info(svc, tasks, gateway) for svc in services]

    def pause(self, container_id: str) -> None:
        raise FreezeUnsupported(
            "pause mode 'freeze' is not supported on the Swarm runtime; use 'stop'"
        )

    def resume(self, container_id: str) -> None:
        raise FreezeUnsupported("nothing is frozen on the Swarm runtime")

    def _container_of(self, service_id: str) -> str:
        info_tasks = self._sdk.tasks(filters={"service": service_id, "desired-state": "running"})
        task = newest(info_tasks)
        cid = ((task or {}).get("Status") or {}).get("ContainerStatus", {}).get("ContainerID")
        if not cid:
            raise RuntimeBackendError(f"{service_id[:12]} has no running task")
        return str(cid)

    def stats(self, container_id: str) -> dict[str, Any]:
        """Stats of the service's running task; only for tasks on this node."""
        try:
            return super().stats(self._container_of(container_id))
        except RuntimeBackendError:
            raise
        except ENGINE_ERRORS as exc:
            raise translate(exc, f"stats {container_id[:12]}") from exc

    def logs(self, container_id: str, *, since: float, until: float) -> str:
        """The service's output written in [since, until), gathered by the manager from
        every node's tasks (a replaced task's too). The engine takes no `until` for a
        service: lines are stamped and the later ones are left for the next read."""
        try:
            chunks = self._sdk.service_logs(
                container_id,
                stdout=True,
                stderr=True,
                since=since,
                timestamps=True,
                is_tty=False,  # never set on a tenant's service; saves an inspect
            )
            raw = b"".join(chunks)
        except NotFound:
            return ""  # gone: no logs, as for a removed container
        except ENGINE_ERRORS as exc:
            raise translate(exc, f"logs {container_id[:12]}") from exc
        return lines_between(raw.decode(errors="replace"), since, until)

    def events(
        self,
        labels: Mapping[str, str],
        *,
        since: float | None = None,
        until: float | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Task containers' events on this node, reported under their service's ID."""
        for event in super().events(labels, since=since, until=until):
            actor = event.get("Actor") or {}
            service_id = (actor.get("Attributes") or {}).get(SERVICE_ID_LABEL)
            if not service_id:
                continue  # not a Swarm task
            event = {**event, "id": service_id, "Actor": {**actor, "ID": service_id}}
            yield event
