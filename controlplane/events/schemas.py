from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from controlplane.models import TenantEvent


class EventOut(BaseModel):
    """One lifecycle transition, as sent on the SSE stream (`data:` of event `lifecycle`)."""

    id: int
    slug: str
    kind: str
    detail: dict[str, Any]
    duration_seconds: float | None
    at: datetime

    @classmethod
    def of(cls, e: TenantEvent) -> EventOut:
        return cls(
            id=e.id,
            slug=e.slug,
            kind=e.kind,
            detail=e.detail,
            duration_seconds=e.duration_seconds,
            at=e.at,
        )
