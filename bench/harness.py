"""The pieces every benchmark shares: result rows, the benchmark record, statistics."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent


@dataclass(frozen=True)
class RunConfig:
    """How a benchmark should run: quick (default) or full sizes."""

    full: bool = False

    @property
    def mode(self) -> str:
        return "full" if self.full else "quick"


@dataclass(frozen=True)
class Row:
    """One measured figure: Berth beside its raw baseline.

    `max_ratio` is the target (berth / baseline must not exceed it), or `min_ratio`
    (it must reach it: throughputs); neither makes the row informational ("info").
    `detail` rows (phase breakdowns) appear in bench/results.md but not in the README.
    """

    name: str
    metric: str
    berth: float
    baseline: float | None
    unit: str
    max_ratio: float | None = None
    note: str = ""
    samples: int | None = None
    detail: bool = False  # breakdown rows: in results.md/json, left out of the README
    min_ratio: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline <= 0:
            return None
        return self.berth / self.baseline

    @property
    def target(self) -> str:
        if self.min_ratio is not None:
            return f"≥ {self.min_ratio:g}×"
        return f"≤ {self.max_ratio:g}×" if self.max_ratio is not None else "info"

    @property
    def verdict(self) -> str:
        ratio = self.ratio
        if ratio is not None and self.min_ratio is not None:
            return "pass" if ratio >= self.min_ratio else "miss"
        if self.max_ratio is None or ratio is None:
            return "info"
        return "pass" if ratio <= self.max_ratio else "miss"

    def to_json(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "name": self.name,
            "metric": self.metric,
            "berth": round(self.berth, 3),
            "baseline": None if self.baseline is None else round(self.baseline, 3),
            "unit": self.unit,
            "ratio": None if ratio is None else round(ratio, 3),
            "target": self.target,
            "verdict": self.verdict,
            "note": self.note,
            "samples": self.samples,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Benchmark:
    """A registered benchmark: `run` does all its own set-up and clean-up."""

    name: str
    summary: str
    run: Callable[[RunConfig], list[Row]]


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (numpy's default method), pct in [0, 100]."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    lo, hi = math.floor(rank), math.ceil(rank)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)
