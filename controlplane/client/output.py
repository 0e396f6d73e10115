"""Tables by default, JSON on request: the two ways `berth` prints answers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

# Progress and notes go to stderr so stdout stays parseable.
out = Console(soft_wrap=False)
err = Console(stderr=True)

Column = tuple[str, Callable[[dict[str, Any]], Any]]


def print_json(data: Any) -> None:
    """Indented JSON on stdout (plain, no colour: it is for programs)."""
    typer.echo(json.dumps(data, indent=2, default=str))


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={cell(v)}" for k, v in value.items()) or "-"
    return str(value)


def short_time(value: str | None) -> str:
    """An ISO timestamp without sub-seconds and offset noise: 2026-12-06 07:01:02."""
    if not value:
        return "-"
    return value.replace("T", " ")[:19]


def table(rows: Iterable[dict[str, Any]], columns: Sequence[Column]) -> None:
    """Rows as a table on stdout."""
    t = Table(show_edge=False, box=None, pad_edge=False, header_style="bold")
    for title, _ in columns:
        t.add_column(title, overflow="fold")
    for row in rows:
        t.add_row(*(cell(get(row)) for _, get in columns))
    out.print(t)


def fields(row: dict[str, Any], names: Sequence[tuple[str, Any]]) -> None:
    """One object as a two-column table of field and value."""
    t = Table(show_edge=False, box=None, show_header=False, pad_edge=False)
    t.add_column(style="bold")
    t.add_column(overflow="fold")
    for title, value in names:
        t.add_row(title, cell(value))
    out.print(t)


def emit(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    """JSON when asked, else the command's table."""
    if as_json:
        print_json(data)
    else:
        render(data)
