"""Traefik docker-provider labels for a tenant. Pure.

Grammar (Traefik v3 docker provider):
  traefik.enable=true
  traefik.docker.network=<network>
  traefik.http.routers.<router>.rule=Host(`<host>`)
  traefik.http.routers.<router>.entrypoints=<ep>[,<ep>]
  traefik.http.routers.<router>.service=<service>
  traefik.http.routers.<router>.middlewares=<mw>[,<mw>]
  traefik.http.services.<service>.loadbalancer.server.port=<port>

The router and service names depend only on the slug, so a blue and a green
container of one tenant join the same service and Traefik shifts traffic between
them without a gap.
"""

from __future__ import annotations

import re

from controlplane.validation import check_slug

_NAME_LIST = re.compile(r"^[A-Za-z0-9@_-]+(,[A-Za-z0-9@_-]+)*$")


def router_name(slug: str) -> str:
    return f"berth-{slug}"


def host_of(slug: str, domain: str) -> str:
    return f"{slug}.{domain}"


def tenant_labels(
    *,
    slug: str,
    domain: str,
    port: int,
    network: str,
    entrypoints: str = "web",
    middlewares: str = "",
) -> dict[str, str]:
    """Labels routing Host(`<slug>.<domain>`) to the tenant's port on `network`."""
    # The slug is re-checked here because it is interpolated into a router rule:
    # a backtick or comma would let a tenant inject its own rule.
    check_slug(slug)
    if not re.fullmatch(r"[a-z0-9.-]+", domain):
        raise ValueError("domain must be lower-case letters, digits, dots and dashes")
    if not 0 < port < 65536:
        raise ValueError("port out of range")
    for value in (entrypoints, middlewares):
        if value and not _NAME_LIST.fullmatch(value):
            raise ValueError(f"invalid Traefik name list: {value!r}")
    name = router_name(slug)
    labels = {
        "traefik.enable": "true",
        "traefik.docker.network": network,
        f"traefik.http.routers.{name}.rule": f"Host(`{host_of(slug, domain)}`)",
        f"traefik.http.routers.{name}.entrypoints": entrypoints,
        f"traefik.http.routers.{name}.service": name,
        f"traefik.http.services.{name}.loadbalancer.server.port": str(port),
    }
    if middlewares:
        labels[f"traefik.http.routers.{name}.middlewares"] = middlewares
    return labels
