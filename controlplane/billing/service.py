"""Billing rules: turning ledger intervals into one row per tenant for a month.

Arithmetic is exact: durations are integer microseconds and amounts are computed as
fractions, rounded half-up to whole cents once per tenant row. Totals are the sums
of the rows, so they always add up. Each interval is priced with the price stored
on its ledger entry, i.e. the plan's price in force at that time.

A period is final once it ended more than FREEZE_GRACE ago (so no transaction that
started inside it can still commit a ledger entry): its first export is stored and
every later export serves those same bytes, whatever happens afterwards.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.billing.repository import BillingRepository
from controlplane.errors import InvalidInput
from controlplane.models import UsageEntry

PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
FREEZE_GRACE = timedelta(minutes=10)
US_PER_HOUR = 3600 * 1_000_000
FORMATS = ("csv", "json")
COLUMNS = (
    "period",
    "status",
    "tenant",
    "tenant_id",
    "plan",
    "currency",
    "active_seconds",
    "paused_seconds",
    "cpu_core_hours",
    "gb_hours",
    "amount_cents",
)


def parse_period(period: str, now: datetime) -> tuple[datetime, datetime]:
    """`YYYY-MM` -> [start, end) in UTC. A month that has not started is refused."""
    match = PERIOD_RE.fullmatch(period)
    if match is None:
        raise InvalidInput("period must look like YYYY-MM, e.g. 2026-11", field="period")
    year, month = int(match.group(1)), int(match.group(2))
    if year < 2000:
        raise InvalidInput("period must be 2000-01 or later", field="period")
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    if start > now:
        raise InvalidInput(f"period {period} has not started yet", field="period")
    return start, end


def _round_half_up(value: Fraction) -> int:
    """Exact half-up rounding of a non-negative fraction to an integer."""
    return (2 * value.numerator + value.denominator) // (2 * value.denominator)


def _decimal(value: Fraction, places: int) -> str:
    scaled = _round_half_up(value * 10**places)
    whole, frac = divmod(scaled, 10**places)
    return f"{whole}.{frac:0{places}d}"


def _cents(value: Fraction) -> int:
    return _round_half_up(value)


@dataclass
class _Usage:
    tenant: str
    tenant_id: str
    plan: str = ""
    currency: str = ""
    active_us: int = 0
    paused_us: int = 0
    core_us: Fraction = field(default_factory=Fraction)
    mb_us: int = 0
    cents: Fraction = field(default_factory=Fraction)

    def row(self, period: str, status: str) -> dict[str, Any]:
        return {
            "period": period,
            "status": status,
            "tenant": self.tenant,
            "tenant_id": self.tenant_id,
            "plan": self.plan,
            "currency": self.currency,
            "active_seconds": _decimal(Fraction(self.active_us, 1_000_000), 3),
            "paused_seconds": _decimal(Fraction(self.paused_us, 1_000_000), 3),
            "cpu_core_hours": _decimal(self.core_us / US_PER_HOUR, 6),
            "gb_hours": _decimal(Fraction(self.mb_us, 1024 * US_PER_HOUR), 6),
            "amount_cents": _cents(self.cents),
        }


def _micros(delta: timedelta) -> int:
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def compute(
    entries: Sequence[UsageEntry], *, start: datetime, end: datetime, until: datetime
) -> list[_Usage]:
    """Usage per tenant inside [start, min(end, until)). Entries are ordered by
    (tenant, seq); each lasts until the tenant's next entry."""
    stop = min(end, until)
    usage: dict[str, _Usage] = {}
    for i, entry in enumerate(entries):
        nxt = entries[i + 1] if i + 1 < len(entries) else None
        finish = nxt.at if nxt is not None and nxt.tenant_id == entry.tenant_id else stop
        lo, hi = max(entry.at, start), min(finish, stop)
        if hi <= lo or entry.state == "off":
            continue
        us = _micros(hi - lo)
        u = usage.setdefault(str(entry.tenant_id), _Usage(entry.slug, str(entry.tenant_id)))
        u.plan, u.currency = entry.plan, entry.currency
        u.cents += Fraction(us * entry.price_cents_per_hour, US_PER_HOUR)
        if entry.state == "running":
            u.active_us += us
            u.core_us += Fraction(entry.cpu) * us
            u.mb_us += entry.memory_mb * us
        else:
            u.paused_us += us
    return sorted(usage.values(), key=lambda u: (u.tenant, u.tenant_id))


def build(period: str, status: str, usage: list[_Usage], generated_at: datetime) -> dict[str, Any]:
    rows = [u.row(period, status) for u in usage]
    totals: dict[str, _Usage] = {}
    for u in usage:
        t = totals.setdefault(u.currency, _Usage("TOTAL", "", currency=u.currency))
        t.active_us += u.active_us
        t.paused_us += u.paused_us
        t.core_us += u.core_us
        t.mb_us += u.mb_us
        t.cents += _cents(u.cents)  # the total is the sum of the rounded rows
    return {
        "period": period,
        "status": status,
        "generated_at": generated_at.isoformat(),
        "rows": rows,
        "totals": [totals[c].row(period, status) for c in sorted(totals)],
    }


async def export(session: AsyncSession, *, period: str, fmt: str) -> tuple[bytes, str]:
    """The export of `period` as (body, media type)."""
    if fmt not in FORMATS:
        raise InvalidInput("format must be 'csv' or 'json'", field="format")
    repo = BillingRepository(session)
    now = await repo.now()
    start, end = parse_period(period, now)
    final = now >= end + FREEZE_GRACE
    stored = await repo.statement(period) if final else None
    if stored is not None:
        body = stored.body
    else:
        usage = compute(await repo.entries_for_period(start, end), start=start, end=end, until=now)
        body = build(period, "final" if final else "provisional", usage, now)
        if final:
            body = (await repo.freeze(period, body)).body
    return render(body, fmt)


def render(body: dict[str, Any], fmt: str) -> tuple[bytes, str]:
    """Deterministic bytes for a statement body (same body, same bytes)."""
    if fmt == "json":
        text = json.dumps(
            {
                "period": body["period"],
                "status": body["status"],
                "provisional": body["status"] != "final",
                "generated_at": body["generated_at"],
                "rows": [{c: r[c] for c in COLUMNS} for r in body["rows"]],
                "totals": [{c: r[c] for c in COLUMNS} for r in body["totals"]],
            },
            indent=2,
        )
        return (text + "\n").encode(), "application/json"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in [*body["rows"], *body["totals"]]:
        writer.writerow([r[c] for c in COLUMNS])
    return out.getvalue().encode(), "text/csv; charset=utf-8"
