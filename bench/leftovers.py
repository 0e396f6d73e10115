"""After a benchmark's stack is gone: check that none of its Docker objects are left."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
import docker.utils
from docker.errors import APIError, NotFound


def leftovers(instance: str) -> list[str]:
    """Containers, volumes and networks still labelled berth.instance=<instance>."""
    api = docker.APIClient(version="auto", timeout=60, **docker.utils.kwargs_from_env())
    label = f"berth.instance={instance}"
    try:
        out = [
            f"container {(c.get('Names') or ['?'])[0].lstrip('/')}"
            for c in api.containers(all=True, filters={"label": label})
        ]
        out += [
            f"volume {v['Name']}"
            for v in (api.volumes(filters={"label": label}).get("Volumes") or [])
        ]
        out += [f"network {n['Name']}" for n in api.networks(filters={"label": [label]})]
    finally:
        api.close()
    return out


def engine_problem(timeout: int = 20) -> str:
    """Why the Docker engine cannot run a benchmark now, or "" if it answers.

    Lists networks, not just /version: after a `docker swarm leave` racing container
    removals, Docker 20.10 can keep answering /version and `docker ps` while every
    network operation (so every container create or remove) hangs for good.
    """
    try:
        api = docker.APIClient(version="auto", timeout=timeout, **docker.utils.kwargs_from_env())
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the answer
        return f"the Docker engine does not answer ({exc})"
    try:
        api.networks(names=["bridge"])
    except Exception as exc:  # noqa: BLE001
        return (
            f"the Docker engine does not list its networks within {timeout:g}s ({exc}); "
            "if `docker network ls` hangs too, dockerd needs a restart"
        )
    finally:
        api.close()
    return ""


def check_clean(instance: str) -> None:
    left = leftovers(instance)
    if left:
        raise RuntimeError(f"left behind by {instance}: {', '.join(left)}")


def remove_all(instance: str, *, parallel: int = 8) -> float:
    """Force-remove the instance's containers, then volumes, `parallel` at a time.

    stop_stack removes them one by one, which takes minutes for a hundred tenants on
    a small host; this leaves it only the network. Returns the seconds it took.
    """
    api = docker.APIClient(version="auto", timeout=120, **docker.utils.kwargs_from_env())
    label = f"berth.instance={instance}"
    t0 = time.monotonic()
    try:
        ids = [c["Id"] for c in api.containers(all=True, filters={"label": label})]
        with ThreadPoolExecutor(parallel) as pool:
            list(pool.map(lambda cid: _ignore_missing(api.remove_container, cid, force=True), ids))
        volumes = api.volumes(filters={"label": label}).get("Volumes") or []
        with ThreadPoolExecutor(parallel) as pool:
            list(pool.map(lambda v: _ignore_missing(api.remove_volume, v["Name"]), volumes))
    finally:
        api.close()
    return time.monotonic() - t0


def _ignore_missing(call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        call(*args, **kwargs)
    except NotFound:
        pass
    except APIError as exc:
        # Berth's worker may be removing the same container: that removal finishes it.
        if exc.status_code != 409 or "already in progress" not in str(exc):
            raise


def sweep(instances: Iterable[str]) -> tuple[list[str], list[str]]:
    """The harness's safety net: remove everything still labelled with one of
    `instances` (containers and volumes in parallel, then networks).

    Returns (what was removed, networks the engine refuses to remove). A refused
    network is one with no container attached that Docker still counts endpoints on
    (moby/moby#42119): only a dockerd restart clears it, so it is reported, not raised.
    """
    removed: list[str] = []
    stuck: list[str] = []
    for instance in instances:
        left = leftovers(instance)
        if not left:
            continue
        removed += [f"{x} ({instance})" for x in left if not x.startswith("network ")]
        remove_all(instance)
        api = docker.APIClient(version="auto", timeout=60, **docker.utils.kwargs_from_env())
        try:
            for net in api.networks(filters={"label": [f"berth.instance={instance}"]}):
                try:
                    api.remove_network(net["Id"])
                    removed.append(f"network {net['Name']} ({instance})")
                except NotFound:
                    pass
                except APIError as exc:
                    attached = api.inspect_network(net["Id"]).get("Containers")
                    if "active endpoints" not in str(exc) or attached:
                        raise
                    stuck.append(str(net["Name"]))
        finally:
            api.close()
    return removed, stuck
