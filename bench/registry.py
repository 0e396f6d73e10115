"""Every benchmark `python -m bench` runs, in order. Add a module, then a line here."""

from __future__ import annotations

from bench import (
    api_reads,
    burst,
    containment,
    density,
    idle,
    monitoring,
    provision,
    reconcile,
    rollout,
    rss,
)
from bench.harness import Benchmark

BENCHMARKS: list[Benchmark] = [
    provision.BENCHMARK,
    containment.BENCHMARK,
    reconcile.BENCHMARK,
    rollout.BENCHMARK,
    idle.BENCHMARK,
    burst.BENCHMARK,
    api_reads.BENCHMARK,
    rss.BENCHMARK,
    density.BENCHMARK,
    monitoring.BENCHMARK,
]
