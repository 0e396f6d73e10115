"""Put the latest bench/results.json into README.md between the bench markers.

    python -m bench.update_readme

A missing README.md, missing markers or missing results are reported and skipped
(exit 0): the markers are added by hand once.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.harness import ROOT
from bench.report import RESULTS_JSON, load, runs_table, table

README = ROOT / "README.md"
START = "<!-- bench:start -->"
END = "<!-- bench:end -->"


def block(doc: Mapping[str, Any]) -> str:
    busy = doc.get("background_busy_cores")
    load = "" if busy is None else f"; {busy:g} cores already busy before the run"
    return (
        f"Machine: {doc['machine_line']}  \n"
        f"Date: {doc['date']} (last run: {doc['mode']} mode{load}). Rows marked (full) "
        "come from `make bench FULL=1`, the others from `make bench`; when each was "
        "measured: the second table.\n\n"
        f"{table(doc['rows'], detail=False)}\n\n"
        + (f"{runs_table(doc['runs'])}\n\n" if doc.get("runs") else "")
        + "Phase breakdowns and notes: bench/results.md.\n"
    )


def update(readme: Path = README, results: Path = RESULTS_JSON) -> bool:
    """Replace the marked section. True if README.md changed."""
    if not readme.exists():
        print(f"update_readme: {readme} does not exist; skipped")
        return False
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(START), text.find(END)
    if start < 0 or end < 0 or end < start:
        print(f"update_readme: markers {START} … {END} not found in {readme.name}; skipped")
        return False
    doc = load(results)
    if doc is None:
        print(f"update_readme: no results at {results}; run `python -m bench` first")
        return False
    new = text[: start + len(START)] + "\n" + block(doc) + text[end:]
    if new == text:
        return False
    readme.write_text(new, encoding="utf-8")
    print(f"update_readme: {readme.name} updated")
    return True


def main(argv: list[str] | None = None) -> int:
    del argv
    update()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
