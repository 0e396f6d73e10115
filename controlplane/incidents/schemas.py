"""Incident bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class IncidentOut(BaseModel):
    id: int
    tenant: str
    kind: str
    severity: str
    exit_code: int | None
    restart_count: int
    occurrences: int
    source: str
    opened_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    secret: str | None = None  # secret_leak: the secret's name (never its value)


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    next_cursor: str | None
