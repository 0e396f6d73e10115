"""`python -m bench [--full] [--only NAME]`: run the benchmarks and report.

Writes bench/results.json and bench/results.md, prints the table, and refreshes the
README section between the bench markers.
"""

from __future__ import annotations

import argparse
import io
import signal
import sys
import time
import traceback
from types import FrameType
from typing import TextIO

from bench import leftovers, report, stack, update_readme
from bench.harness import Row, RunConfig
from bench.registry import BENCHMARKS


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    # SIGTERM cleans up like Ctrl-C: every stack's finally-block removes its objects.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    names = [b.name for b in BENCHMARKS]
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--full", action="store_true", help="full sizes (default: quick)")
    parser.add_argument("--only", metavar="NAME", choices=names, help="run one benchmark")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--no-readme", action="store_true", help="do not update README.md afterwards"
    )
    args = parser.parse_args(argv)
    if args.list:
        for b in BENCHMARKS:
            print(f"{b.name:<16} {b.summary}")
        return 0

    # Progress lines reach a log or CI as they happen, not when a buffer fills, each
    # stamped with the seconds since the run began (where a benchmark's time goes).
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    stamped = sys.stdout = _Stamped(sys.stdout)
    signal.signal(signal.SIGTERM, _interrupt)
    cfg = RunConfig(full=args.full)
    background = report.busy_cores()
    print(f"background load: {background} cores busy before the run", flush=True)
    selected = [b for b in BENCHMARKS if args.only in (None, b.name)]
    fresh: list[Row] = []
    runs: dict[str, dict[str, object]] = {}
    outcome: dict[str, tuple[str, float]] = {}  # name -> (ok / FAILED / ..., seconds)
    stuck: set[str] = set()
    engine_down = ""
    t_start = time.monotonic()
    try:
        for bench in selected:
            print(f"== {bench.name} ({cfg.mode}): {bench.summary}", flush=True)
            problem = leftovers.engine_problem()
            if problem:
                # A wedged engine makes every Docker call wait out its timeout: each
                # remaining benchmark would take minutes to fail the same way.
                print(f"== {bench.name}: not run: {problem}", file=sys.stderr, flush=True)
                outcome[bench.name] = ("SKIPPED", 0.0)
                engine_down = problem
                break
            started = time.monotonic()
            load_before = report.load_average()
            first_instance = len(stack.INSTANCES)
            status = "FAILED"
            try:
                rows = bench.run(cfg)
                status = "ok"
            except KeyboardInterrupt:
                status = "interrupted"
                raise
            except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others
                traceback.print_exc()
            finally:
                # Whatever happened, nothing of this benchmark's stays on the engine.
                stuck |= _sweep(bench.name, stack.INSTANCES[first_instance:])
                seconds = time.monotonic() - started
                outcome[bench.name] = (status, seconds)
                print(f"== {bench.name}: {status} in {seconds:.0f}s", flush=True)
            if status != "ok":
                continue
            fresh += rows
            runs[report.run_key(bench.name, cfg.mode)] = report.run_record(
                benchmark=bench.name,
                mode=cfg.mode,
                seconds=seconds,
                load_before=load_before,
                busy_before=background,
            )
    except KeyboardInterrupt:
        print("interrupted; stacks cleaned up; no results written", file=sys.stderr)
        return 130
    finally:
        stuck |= _sweep("bench", stack.INSTANCES)
        sys.stdout = stamped.out  # the table and summary, unstamped
    total = time.monotonic() - t_start

    ran = [name for name, (status, _) in outcome.items() if status == "ok"]
    failed = [name for name, (status, _) in outcome.items() if status != "ok"]
    if ran:
        order = [b.name for b in BENCHMARKS]
        old = report.load() or {}
        doc = report.write(
            report.merge_rows(old.get("rows", []), fresh, ran, cfg.mode, order),
            runs=report.merge_runs(old.get("runs", {}), runs, order),
            mode=cfg.mode,
            benchmarks={b.name: b.summary for b in BENCHMARKS},
            background_busy_cores=background,
        )
        print()
        print(f"Machine: {doc['machine_line']}")
        print(f"Date: {doc['date']} ({doc['mode']} mode)")
        print(f"Background load before the run: {background} cores busy")
        print()
        print(report.table(doc["rows"]))
        print(f"\nwritten: {report.RESULTS_JSON} and {report.RESULTS_MD}")
        if not args.no_readme:
            update_readme.update()
    print()
    for name, (status, seconds) in outcome.items():
        print(f"  {name:<12} {status:<7} {seconds:6.0f} s")
    print(f"  {'total':<12} {'':<7} {total:6.0f} s ({cfg.mode} mode)")
    if stuck:
        print(
            f"WARNING: the engine refuses to remove network(s) {', '.join(sorted(stuck))} "
            "(no container attached; moby/moby#42119): remove them after a dockerd restart",
            file=sys.stderr,
        )
    if engine_down:
        print(f"bench STOPPED: {engine_down}", file=sys.stderr)
    if failed:
        kept = "" if not ran else "; the rows of the others were written"
        print(
            f"bench FAILED: {', '.join(failed)} (tracebacks above; their earlier rows are "
            f"kept){kept}",
            file=sys.stderr,
        )
        return 1
    return 0


class _Stamped(io.TextIOBase):
    """stdout with `[ 123s]` (seconds since the start) in front of every line."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.t0 = time.monotonic()
        self.at_line_start = True

    def write(self, text: str) -> int:
        for part in text.splitlines(keepends=True):
            if self.at_line_start and part.strip():
                self.out.write(f"[{time.monotonic() - self.t0:5.0f}s] ")
            self.out.write(part)
            self.at_line_start = part.endswith("\n")
        return len(text)

    def flush(self) -> None:
        self.out.flush()


def _sweep(what: str, instances: list[str]) -> set[str]:
    """Remove what `instances` still have on the engine; say so if there was anything."""
    if not instances:
        return set()
    problem = leftovers.engine_problem()
    if problem:
        labels = ", ".join(f"berth.instance={i}" for i in instances)
        print(f"== {what}: clean-up by label NOT DONE: {problem}; left for later: {labels}")
        return set()
    try:
        removed, stuck = leftovers.sweep(instances)
    except Exception:  # noqa: BLE001 - report it; the run's other results still count
        traceback.print_exc()
        print(f"== {what}: clean-up by label FAILED; see above", file=sys.stderr)
        return set()
    if removed:
        print(f"== {what}: clean-up removed what it left behind: {', '.join(removed)}")
    return set(stuck)


if __name__ == "__main__":
    sys.exit(main())
