"""Bodies of the tenant runtime routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class RuntimeSelf(BaseModel):
    """What a tenant container may know about itself (nothing secret)."""

    slug: str
    plan: str
    blueprint_version: str
    generation: int
    state: str
    desired_state: str
    egress: str


class ActivityRecorded(BaseModel):
    slug: str
    recorded_at: datetime
