"""Bench results: a `--only X` run replaces X's rows and run record, and keeps the rest."""

from pathlib import Path

from bench import report, update_readme
from bench.harness import Row


def _row(name: str, metric: str, berth: float) -> Row:
    return Row(name, metric, berth, 1.0, "ms", max_ratio=1.5)


def test_only_run_replaces_its_own_rows_and_keeps_the_others(tmp_path: Path) -> None:
    first = report.merge_rows([], [_row("a", "m", 1.0), _row("b", "m", 2.0)], ["a", "b"])
    again = report.merge_rows(first, [_row("b", "m", 3.0), _row("b", "n", 1.0)], ["b"])
    assert [(r["name"], r["metric"], r["berth"]) for r in again] == [
        ("a", "m", 1.0),
        ("b", "m", 3.0),
        ("b", "n", 1.0),
    ]

    js, md, readme = tmp_path / "r.json", tmp_path / "r.md", tmp_path / "README.md"
    readme.write_text(f"x\n{update_readme.START}\nold\n{update_readme.END}\ny\n")
    runs = {"a": {"date": "d1", "mode": "full"}, "b": {"date": "d2", "mode": "quick"}}
    report.write(again, runs=runs, mode="quick", benchmarks={}, json_path=js, md_path=md)
    assert update_readme.update(readme, js)
    text = readme.read_text()
    assert "old" not in text and text.startswith("x\n") and text.endswith("y\n")
    assert "| a | d1 | full |" in text and "| b | d2 | quick |" in text
    assert "| b | m | 3.0 ms |" in text


def test_min_ratio_rows_pass_at_or_above_the_target() -> None:
    fast = Row("t", "throughput", 0.9, 1.0, "tenants/s", min_ratio=0.8)
    slow = Row("t", "throughput", 0.5, 1.0, "tenants/s", min_ratio=0.8)
    assert (fast.verdict, slow.verdict, fast.target) == ("pass", "miss", "≥ 0.8×")


def test_a_quick_run_keeps_the_full_runs_rows_and_record() -> None:
    full = report.merge_rows([], [_row("a", "at 300", 9.0)], ["a"], "full", ["a", "b"])
    old = [*full, {**_row("b", "m", 1.0).to_json()}]  # a row from before rows had a mode
    fresh_rows = [_row("b", "m", 2.0), _row("a", "at 20", 1.0)]
    rows = report.merge_rows(old, fresh_rows, ["a", "b"], "quick", ["a", "b"])
    assert [(r["name"], r["mode"], r["metric"], r["berth"]) for r in rows] == [
        ("a", "quick", "at 20", 1.0),
        ("a", "full", "at 300", 9.0),
        ("b", "quick", "m", 2.0),
    ]
    assert "| a (full) | at 300 | 9.0 ms |" in report.table(rows)

    legacy = {"a": {"date": "d0", "mode": "full"}, "b": {"date": "d1", "mode": "quick"}}
    fresh = {
        report.run_key(n, "quick"): {"benchmark": n, "date": "d2", "mode": "quick"}
        for n in ("a", "b")
    }
    runs = report.merge_runs(legacy, fresh, ["a", "b"])
    assert list(runs) == ["a/quick", "a/full", "b/quick"]
    assert runs["a/full"]["date"] == "d0" and runs["b/quick"]["date"] == "d2"
    assert "| a | d0 | full | ? |" in report.runs_table(runs)
