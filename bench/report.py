"""Machine description, results.json / results.md, and the markdown table."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import BENCH_DIR, Row

RESULTS_JSON = BENCH_DIR / "results.json"
RESULTS_MD = BENCH_DIR / "results.md"

MODES = ("quick", "full")
HEADER = "| benchmark | metric | Berth | raw baseline | ratio | target | verdict |"
RULE = "|---|---|---:|---:|---:|---|---|"


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / (1024 * 1024), 1)
    except OSError:
        return None
    return None


def _docker_version() -> str | None:
    try:
        import docker
        import docker.utils

        client = docker.APIClient(version="auto", timeout=10, **docker.utils.kwargs_from_env())
        try:
            version = client.version().get("Version")
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - a missing engine only blanks this field
        return None
    return str(version) if version else None


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "docker_server": _docker_version(),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def busy_cores(seconds: float = 2.0) -> float | None:
    """How many cores' worth of CPU the host spends over `seconds` (background load)."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return sum(values) - idle, sum(values)

    try:
        busy0, total0 = sample()
        time.sleep(seconds)
        busy1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    if total1 == total0:
        return None
    return round((busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1), 2)


def load_average() -> list[float]:
    """The host's 1, 5 and 15 minute load averages (other helpers' work shows here)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def run_record(
    *,
    benchmark: str,
    mode: str,
    seconds: float,
    load_before: list[float],
    busy_before: float | None,
) -> dict[str, Any]:
    """When and under what load one benchmark's rows were measured."""
    return {
        "benchmark": benchmark,
        "date": now_iso(),
        "mode": mode,
        "seconds": round(seconds),
        "busy_cores_before": busy_before,
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }


def run_key(name: str, mode: str) -> str:
    """Run records are per benchmark and per mode: a quick run keeps the full run's."""
    return f"{name}/{mode}"


def merge_runs(
    previous: Mapping[str, Mapping[str, Any]],
    fresh: Mapping[str, Mapping[str, Any]],
    order: Sequence[str] = (),
) -> dict[str, dict[str, Any]]:
    """Previous run records with this run's on top, keyed by benchmark and mode.

    Records written before the key carried the mode (keyed by the name alone) are
    re-keyed from their own `mode` field.
    """
    out: dict[str, dict[str, Any]] = {}
    for key, rec in [*previous.items(), *fresh.items()]:
        record = dict(rec)
        record.setdefault("benchmark", key.split("/", 1)[0])
        out[run_key(str(record["benchmark"]), str(record.get("mode") or "quick"))] = record
    return dict(sorted(out.items(), key=lambda kv: _rank(kv[1], order, "benchmark")))


def _rank(record: Mapping[str, Any], order: Sequence[str], field: str) -> tuple[int, int]:
    """Sort key: the registry's benchmark order, then quick before full."""
    name = record.get(field)
    index = order.index(name) if name in order else len(order)
    return index, MODES.index(row_mode(record))


def row_mode(record: Mapping[str, Any]) -> str:
    """The mode a row or run record was measured in (rows from before: quick)."""
    mode = str(record.get("mode") or "quick")
    return mode if mode in MODES else "quick"


def runs_table(runs: Mapping[str, Mapping[str, Any]]) -> str:
    """One line per benchmark and mode: which run its rows come from, and the host's load."""
    lines = [
        "| benchmark | measured (UTC) | mode | took | load avg 1/5/15 min, before → after |",
        "|---|---|---|---:|---|",
    ]
    for key, r in runs.items():
        before = "/".join(f"{v:g}" for v in r.get("load_average_before") or []) or "?"
        after = "/".join(f"{v:g}" for v in r.get("load_average_after") or []) or "?"
        took = "?" if r.get("seconds") is None else f"{r['seconds']} s"
        lines.append(
            f"| {r.get('benchmark', key)} | {r.get('date', '?')} | {r.get('mode', '?')} "
            f"| {took} | {before} → {after} |"
        )
    return "\n".join(lines)


def machine_line(m: Mapping[str, Any]) -> str:
    mem = f"{m.get('memory_gib')} GiB RAM" if m.get("memory_gib") is not None else "? GiB RAM"
    return (
        f"{m.get('cores')} cores, {mem}, Docker {m.get('docker_server') or '?'}, "
        f"Linux {m.get('kernel')}, Python {m.get('python')}"
    )


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _num(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ms":
        return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"
    return f"{value:g} {unit}".strip()


def table(rows: Iterable[Mapping[str, Any]], *, detail: bool = True) -> str:
    """The markdown table for rows in their JSON form (without detail rows if not `detail`)."""
    lines = [HEADER, RULE]
    for r in rows:
        if r.get("detail") and not detail:
            continue
        ratio = r.get("ratio")
        verdict = r.get("verdict", "")
        name = r["name"] if row_mode(r) == "quick" else f"{r['name']} (full)"
        lines.append(
            "| {name} | {metric} | {berth} | {base} | {ratio} | {target} | {verdict} |".format(
                name=name,
                metric=r["metric"],
                berth=_num(r.get("berth"), r.get("unit", "")),
                base=_num(r.get("baseline"), r.get("unit", "")),
                ratio="—" if ratio is None else f"{ratio:.2f}×",
                target=r.get("target", ""),
                verdict=f"**{verdict}**" if verdict == "miss" else verdict,
            )
        )
    return "\n".join(lines)


def notes(rows: Iterable[Mapping[str, Any]]) -> str:
    out = [
        f"- {r['name']}{'' if row_mode(r) == 'quick' else ' (full)'} / {r['metric']}: {r['note']}"
        for r in rows
        if r.get("note")
    ]
    return "\n".join(out)


def load(path: Path = RESULTS_JSON) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data


def merge_rows(
    previous: Sequence[Mapping[str, Any]],
    fresh: Sequence[Row],
    ran: Iterable[str],
    mode: str = "quick",
    order: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """This run's rows replace those of the same benchmark *and mode*; every other row
    is kept (a quick run must not drop the figures of the last full run). Sorted by
    `order` (the registry's), quick before full, each group in its measured order."""
    ran_names = set(ran)
    kept = [dict(r) for r in previous if not (r.get("name") in ran_names and row_mode(r) == mode)]
    rows = kept + [{**r.to_json(), "mode": mode} for r in fresh]
    return sorted(rows, key=lambda r: _rank(r, order, "name"))


def write(
    rows: list[dict[str, Any]],
    *,
    runs: Mapping[str, Mapping[str, Any]] | None = None,
    mode: str,
    benchmarks: Mapping[str, str],
    background_busy_cores: float | None = None,
    json_path: Path = RESULTS_JSON,
    md_path: Path = RESULTS_MD,
) -> dict[str, Any]:
    m = machine()
    doc: dict[str, Any] = {
        "date": now_iso(),
        "mode": mode,
        "machine": m,
        "machine_line": machine_line(m),
        # CPU the host was already spending before the run (other workloads): noise.
        "background_busy_cores": background_busy_cores,
        "benchmarks": dict(benchmarks),
        # Per benchmark: the run its rows come from (rows of earlier runs are kept).
        "runs": {k: dict(v) for k, v in (runs or {}).items()},
        "rows": rows,
    }
    json_path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path.write_text(markdown(doc), encoding="utf-8")
    return doc


def _load(busy: float | None, doc: Mapping[str, Any]) -> str:
    if busy is None:
        return "unknown"
    return f"{busy:g} of {doc['machine'].get('cores')} cores busy"


def markdown(doc: Mapping[str, Any]) -> str:
    parts = [
        "# Berth benchmark results",
        "",
        f"Machine: {doc['machine_line']}  ",
        f"Date: {doc['date']} ({doc['mode']} mode)  ",
        f"Background load before the run: {_load(doc.get('background_busy_cores'), doc)}",
        "",
        table(doc["rows"]),
        "",
    ]
    if doc.get("runs"):
        parts += [
            "Runs (each benchmark's rows come from its latest run):",
            "",
            runs_table(doc["runs"]),
            "",
        ]
    note_text = notes(doc["rows"])
    if note_text:
        parts += ["Notes:", "", note_text, ""]
    return "\n".join(parts)
