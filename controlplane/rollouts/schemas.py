"""Rollout request and response bodies."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from controlplane.validation import check_slug

_PERCENT = re.compile(r"^(\d{1,3})%$")


class Selector(BaseModel):
    """Which tenants: all (default), a list of slugs, or a plan."""

    model_config = ConfigDict(extra="forbid")

    all: bool | None = None
    slugs: list[str] | None = Field(default=None, max_length=10000)
    plan: str | None = Field(default=None, max_length=32)

    @field_validator("slugs")
    @classmethod
    def _slugs(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            for slug in value:
                check_slug(slug)
        return value


class DeployRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_parallel: int = Field(default=10, ge=1, le=200)
    canary: int | str = Field(
        default="5%", description="first wave: a count (>= 1) or a percent such as '5%'"
    )
    max_failures: int | float = Field(
        default=0.1,
        description="failures after the canary that halt the rollout: a count, or a ratio < 1",
    )
    selector: Selector = Field(default_factory=Selector)

    @field_validator("canary")
    @classmethod
    def _canary(cls, value: int | str) -> int | str:
        if isinstance(value, int):
            if value < 1:
                raise ValueError("must be at least 1")
            return value
        match = _PERCENT.fullmatch(value)
        if not match or not 0 < int(match.group(1)) <= 100:
            raise ValueError("must be a count or a percent between 1% and 100%")
        return value

    @field_validator("max_failures")
    @classmethod
    def _max_failures(cls, value: int | float) -> int | float:
        if isinstance(value, float) and not value.is_integer() and not 0 <= value < 1:
            raise ValueError("a ratio must be between 0 and 1")
        if value < 0:
            raise ValueError("must not be negative")
        return value


class TargetOut(BaseModel):
    slug: str
    wave: str
    from_version: str
    to_version: str
    state: str
    reason: str | None
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None


class RolloutOut(BaseModel):
    id: str
    kind: str
    blueprint_version: str
    state: str
    reason: str | None
    max_parallel: int
    canary_count: int
    max_failures: int
    selector: dict[str, Any]
    counts: dict[str, int]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    rollback_of: str | None
    targets: list[TargetOut] | None = None
