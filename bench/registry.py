"""Every benchmark `python -m bench` runs, in order. Add a module, then a line here."""

from __future__ import annotations

from bench import containment, idle, monitoring, provision, reconcile, rollout
from bench.harness import Benchmark

BENCHMARKS: list[Benchmark] = [
    provision.BENCHMARK,
    containment.BENCHMARK,
    reconcile.BENCHMARK,
    rollout.BENCHMARK,
    idle.BENCHMARK,
    monitoring.BENCHMARK,
]
