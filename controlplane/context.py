"""Who is acting, for the audit log."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    key_id: str
    request_id: str | None = None


SYSTEM = Actor(key_id="berth")

CONVERGE_TASK = "berth.converge_tenant"
