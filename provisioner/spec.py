"""From a tenant's desired state to a hardened container spec. Pure and unit-testable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from provisioner import traefik
from provisioner.runtime.base import ContainerSpec

LABEL_TENANT = "berth.tenant"
LABEL_TENANT_ID = "berth.tenant-id"
LABEL_BLUEPRINT = "berth.blueprint"
LABEL_GENERATION = "berth.generation"
LABEL_INSTANCE = "berth.instance"
LABEL_MANAGED = "berth.managed"
# The id (public part) of the runtime token in the container's env, never the token.
LABEL_RUNTIME_TOKEN = "berth.runtime-token"
LABEL_PLAN = "berth.plan"

TMPFS_MB = 64


@dataclass(frozen=True)
class TenantSpecInput:
    """The parts of tenant, blueprint and settings that shape a container."""

    tenant_id: str
    slug: str
    generation: int
    blueprint_version: str
    image: str
    port: int
    user: str
    cpu: float
    memory_mb: int
    pids: int
    blueprint_env: Mapping[str, str]
    tenant_env: Mapping[str, str]
    secrets: Mapping[str, str]
    domain: str
    network: str
    instance: str
    entrypoints: str = "web"
    middlewares: str = ""
    network_internal: bool = False  # egress `none` (provisioner/egress.py)
    egress_env: Mapping[str, str] = field(default_factory=dict)
    runtime: str | None = None  # OCI runtime; None: the engine's default
    runtime_token_id: str = ""  # set by the provisioner right before a create
    runtime_token: str = ""
    runtime_url: str = ""
    plan: str = ""


def container_name(slug: str) -> str:
    return f"berth-{slug}"


def container_names(slug: str) -> tuple[str, str]:
    """The two colours of a tenant's container, for blue/green replacement."""
    return f"berth-{slug}", f"berth-{slug}-b"


def volume_name(slug: str, tenant_id: str) -> str:
    # The tenant id is part of the name so a later tenant that re-uses a slug never
    # inherits a deleted tenant's kept data.
    return f"berth-{slug}-{tenant_id.replace('-', '')[:12]}-data"


def instance_labels(instance: str) -> dict[str, str]:
    return {LABEL_MANAGED: "true", LABEL_INSTANCE: instance}


def build_env(inp: TenantSpecInput) -> dict[str, str]:
    """Blueprint defaults, tenant env, decrypted secrets, egress env, then Berth's own:
    BERTH_TENANT, and the container's runtime token (and URL) when it has one."""
    env: dict[str, str] = {}
    env.update(inp.blueprint_env)
    env.update(inp.tenant_env)
    env.update(inp.secrets)
    env.update(inp.egress_env)
    env["BERTH_TENANT"] = inp.slug
    if inp.runtime_token:
        env["BERTH_RUNTIME_TOKEN"] = inp.runtime_token
        if inp.runtime_url:
            env["BERTH_RUNTIME_URL"] = inp.runtime_url
    return env


def build_spec(inp: TenantSpecInput, *, name: str | None = None) -> ContainerSpec:
    """The hardened container for one tenant (limits, read-only root, labels, network)."""
    labels = {
        **instance_labels(inp.instance),
        LABEL_TENANT: inp.slug,
        LABEL_TENANT_ID: inp.tenant_id,
        LABEL_BLUEPRINT: inp.blueprint_version,
        LABEL_GENERATION: str(inp.generation),
        **({LABEL_RUNTIME_TOKEN: inp.runtime_token_id} if inp.runtime_token_id else {}),
        **traefik.tenant_labels(
            slug=inp.slug,
            domain=inp.domain,
            port=inp.port,
            network=inp.network,
            entrypoints=inp.entrypoints,
            middlewares=inp.middlewares,
        ),
    }
    if inp.plan:
        # The Swarm backend places a tenant by its plan (BERTH_SWARM_PLACEMENT).
        labels[LABEL_PLAN] = inp.plan
    volume_labels = {
        **instance_labels(inp.instance),
        LABEL_TENANT: inp.slug,
        LABEL_TENANT_ID: inp.tenant_id,
    }
    return ContainerSpec(
        name=name or container_name(inp.slug),
        image=inp.image,
        labels=labels,
        env=build_env(inp),
        user=inp.user,
        network=inp.network,
        volume=volume_name(inp.slug, inp.tenant_id),
        volume_labels=volume_labels,
        cpu=inp.cpu,
        memory_mb=inp.memory_mb,
        pids=inp.pids,
        tmpfs_mb=TMPFS_MB,
        hostname=inp.slug,
        network_internal=inp.network_internal,
        runtime=inp.runtime,
    )
