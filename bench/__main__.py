"""`python -m bench [--full] [--only NAME]`: run the benchmarks and report.

Writes bench/results.json and bench/results.md, prints the table, and refreshes the
README section between the bench markers.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import traceback
from types import FrameType

from bench import report, update_readme
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

    signal.signal(signal.SIGTERM, _interrupt)
    cfg = RunConfig(full=args.full)
    background = report.busy_cores()
    print(f"background load: {background} cores busy before the run", flush=True)
    selected = [b for b in BENCHMARKS if args.only in (None, b.name)]
    fresh: list[Row] = []
    ran: list[str] = []
    runs: dict[str, dict[str, object]] = {}
    failed: list[str] = []
    for bench in selected:
        print(f"== {bench.name} ({cfg.mode}): {bench.summary}", flush=True)
        started = time.monotonic()
        load_before = report.load_average()
        try:
            fresh += bench.run(cfg)
            ran.append(bench.name)
            runs[bench.name] = report.run_record(
                mode=cfg.mode,
                seconds=time.monotonic() - started,
                load_before=load_before,
                busy_before=background,
            )
        except KeyboardInterrupt:
            print(f"== {bench.name}: interrupted; stacks cleaned up", file=sys.stderr)
            return 130
        except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others
            traceback.print_exc()
            failed.append(bench.name)
            print(f"== {bench.name}: FAILED", file=sys.stderr)
            continue
        print(f"== {bench.name}: done in {time.monotonic() - started:.0f}s", flush=True)

    if ran:
        old = report.load() or {}
        rows = report.merge_rows(old.get("rows", []), fresh, ran)
        doc = report.write(
            rows,
            runs={**old.get("runs", {}), **runs},
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
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
