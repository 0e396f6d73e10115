"""Gate request counts, kept in the API process that answers the gate.

The gate is the hottest path (every tenant request), so it only bumps a dict entry;
/metrics reads it. Each API process counts its own requests: Prometheus sums them
when it scrapes every API replica (their `instance` labels differ).
"""

from __future__ import annotations

from collections import Counter

# allowed: let through; woken: let through after waking a paused tenant;
# waking: 503 while a wake takes longer than the gate waits;
# unknown: 404 (no tenant serves the host); invalid: 422 (no X-Forwarded-Host).
GATE_OUTCOMES = ("allowed", "woken", "waking", "unknown", "invalid")


class GateCounts:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def inc(self, outcome: str) -> None:
        self.counts[outcome] += 1

    def snapshot(self) -> dict[str, int]:
        return {k: self.counts[k] for k in GATE_OUTCOMES}
