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
