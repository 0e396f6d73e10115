"""Jinja filters: how numbers and times read on the dashboard."""

from __future__ import annotations

from datetime import UTC, datetime

from jinja2 import Environment


def cores(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def mib(value: int | None) -> str:
    return "–" if value is None else f"{value / (1024 * 1024):.0f} MiB"


def ago(value: datetime | None) -> str:
    """'3 min ago'; the exact time goes in a title attribute next to it."""
    if value is None:
        return "never"
    seconds = int((datetime.now(UTC) - value).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def iso(value: datetime | None) -> str:
    return "" if value is None else value.isoformat(timespec="seconds")


def install_filters(env: Environment) -> None:
    env.filters.update(cores=cores, mib=mib, ago=ago, iso=iso)
