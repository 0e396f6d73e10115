"""Plan request and response bodies."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

PlanName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,31}$", max_length=32)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
Cents = Annotated[int, Field(ge=0, le=10_000_000, description="integer cents per hour")]
IdleAfter = Annotated[
    int | None,
    Field(ge=1, le=31 * 86400, description="seconds idle before pausing; null: never"),
]
PauseMode = Literal["freeze", "stop"]
# provisioner/egress.py; a future credential-injecting `proxy` mode joins this list.
Egress = Literal["open", "none"]
Runtime = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9._-]{0,31}$",
        description="OCI runtime, e.g. runsc (gVisor); refused if the engine lacks it",
    ),
]


class PlanOut(BaseModel):
    name: str
    cpu: float
    memory_mb: int
    pids: int
    max_cpu: float
    max_memory_mb: int
    max_pids: int
    idle_after: int | None
    pause_mode: str
    price_active_cents: int
    price_paused_cents: int
    currency: str
    egress: str
    runtime: str | None


class PlanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PlanName
    cpu: float = Field(gt=0, le=64)
    memory_mb: int = Field(ge=16, le=262144)
    pids: int = Field(ge=16, le=65536)
    max_cpu: float = Field(gt=0, le=64)
    max_memory_mb: int = Field(ge=16, le=262144)
    max_pids: int = Field(ge=16, le=65536)
    idle_after: IdleAfter = None
    pause_mode: PauseMode = "stop"
    price_active_cents: Cents = 0
    price_paused_cents: Cents = 0
    currency: Currency = "USD"
    egress: Egress = "open"
    runtime: Runtime | None = None


class PlanUpdate(BaseModel):
    """Only the fields present change. `idle_after: null` turns auto-pause off."""

    model_config = ConfigDict(extra="forbid")

    cpu: float | None = Field(default=None, gt=0, le=64)
    memory_mb: int | None = Field(default=None, ge=16, le=262144)
    pids: int | None = Field(default=None, ge=16, le=65536)
    max_cpu: float | None = Field(default=None, gt=0, le=64)
    max_memory_mb: int | None = Field(default=None, ge=16, le=262144)
    max_pids: int | None = Field(default=None, ge=16, le=65536)
    idle_after: IdleAfter = None
    pause_mode: PauseMode | None = None
    price_active_cents: Cents | None = None
    price_paused_cents: Cents | None = None
    currency: Currency | None = None
    egress: Egress | None = None
    runtime: Runtime | None = Field(default=None, description="null: the engine's default")
