"""Request and response bodies for tenants and their secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from controlplane.validation import EnvMap, Limits, Slug, Version, check_env_name

SecretMap = Annotated[
    dict[str, Annotated[str, Field(max_length=16384)]],
    AfterValidator(lambda m: {check_env_name(k): v for k, v in m.items()}),
]

TenantState = Literal[
    "pending",
    "provisioning",
    "running",
    "upgrading",
    "paused",
    "failed",
    "degraded",
    "deleting",
    "deleted",
]


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: Slug
    plan: str | None = Field(default=None, max_length=32)
    env: EnvMap = Field(default_factory=dict)
    secrets: SecretMap = Field(default_factory=dict, description="write-only")
    limits: Limits | None = None
    blueprint_version: Version | None = None


class TenantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: str | None = Field(default=None, max_length=32)
    pinned_version: Version | None = Field(
        default=None, description="keep this tenant on a version through rollouts; null unpins"
    )
    env: EnvMap | None = None
    limits: Limits | None = None


class LimitsOut(BaseModel):
    cpu: float
    memory_mb: int
    pids: int


class IncidentBrief(BaseModel):
    id: int
    kind: str
    severity: str
    opened_at: datetime
    resolved_at: datetime | None


class TenantOut(BaseModel):
    slug: str
    plan: str
    url: str
    state: TenantState
    state_reason: str | None
    desired_state: str
    blueprint_version: str
    env: dict[str, str]
    secrets: list[str]
    limits: LimitsOut
    generation: int
    pinned_version: str | None
    container_name: str | None
    health: str | None
    restart_count: int
    last_incident: IncidentBrief | None
    created_at: datetime
    updated_at: datetime
    last_active_at: datetime | None = None


class TenantPage(BaseModel):
    items: list[TenantOut]
    next_cursor: str | None


class SecretPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str = Field(min_length=1, max_length=16384)


class SecretOut(BaseModel):
    name: str
    updated_at: datetime
