"""After a benchmark's stack is gone: check that none of its Docker objects are left."""

from __future__ import annotations

import docker
import docker.utils


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


def check_clean(instance: str) -> None:
    left = leftovers(instance)
    if left:
        raise RuntimeError(f"left behind by {instance}: {', '.join(left)}")
