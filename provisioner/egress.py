"""Egress modes: what a plan's containers may reach outside the host. Pure.

- `open`: the shared tenants bridge (ICC off, NAT out): anything the host can route to.
- `none`: `<tenant network>-internal`, a Docker *internal* bridge (ICC off): the
  engine installs no NAT and drops every forwarded packet leaving the subnet, so
  nothing beyond the host is reachable. The host (and Traefik on the host network)
  still reaches the tenant's IP. Docker 20.10 does not filter the INPUT path, so a
  host listener on a non-loopback address stays reachable, as in `open`.

A mode is a network plus env, so a later credential-injecting `proxy` mode fits the
same shape: an internal network that also holds the proxy, plus HTTP(S)_PROXY in env.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

EgressMode = Literal["open", "none"]
EGRESS_MODES: tuple[EgressMode, ...] = ("open", "none")
INTERNAL_SUFFIX = "-internal"


@dataclass(frozen=True)
class EgressPolicy:
    network: str
    internal: bool
    env: Mapping[str, str] = field(default_factory=dict)


def policy(mode: str, *, base_network: str) -> EgressPolicy:
    """The network (and env) a container of a plan with egress `mode` gets."""
    if mode == "open":
        return EgressPolicy(network=base_network, internal=False)
    if mode == "none":
        return EgressPolicy(network=base_network + INTERNAL_SUFFIX, internal=True)
    raise ValueError(f"unknown egress mode {mode!r}")
