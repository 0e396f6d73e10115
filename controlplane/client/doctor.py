"""`berth doctor`: the security preflight from a terminal, as a table or JSON.

Exit status: 0 when nothing fails (warnings allowed, unless --strict), 1 when a
check fails (or the API refuses), 3 when Berth cannot be reached (see ExitCode).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from controlplane.client.http import DEFAULT_URL, Api, JsonOpt, TokenOpt, UrlOpt

STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}


def _mark(status: str) -> str:
    return f"[{STYLE.get(status, '')}]{status}[/]"


def _table(report: dict[str, Any], *, verbose: bool) -> Table:
    table = Table(title=f"Berth security preflight: {report['status']}", show_lines=False)
    for column in ("target", "check", "status", "detail", "ref"):
        table.add_column(column, overflow="fold")
    for check in report["berth"]:
        table.add_row(
            "berth", check["id"], _mark(check["status"]), check["detail"], check["reference"]
        )
    for container in report["containers"]:
        target = f"{container['tenant'] or '-'} ({container['name']})"
        shown = [c for c in container["checks"] if verbose or c["status"] != "pass"]
        if not shown:
            table.add_row(
                target,
                "all checks",
                _mark("pass"),
                f"{len(container['checks'])} checks, runtime {container['runtime']}",
                "",
            )
        for check in shown:
            table.add_row(
                target, check["id"], _mark(check["status"]), check["detail"], check["reference"]
            )
    return table


def doctor(
    json_output: JsonOpt = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="list passing checks")] = False,
    strict: Annotated[bool, typer.Option(help="exit non-zero on warnings too")] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Check every tenant container, Berth's own settings and the Docker daemon."""
    report = Api(url, token).get("/security/preflight")
    if json_output:
        typer.echo(json.dumps(report, indent=2))
    else:
        console = Console(width=160, soft_wrap=False)
        engine = report["engine"]
        console.print(
            f"engine: {engine['name']} {engine['version']} (API {engine['api_version']}), "
            f"runtimes: {', '.join(engine['runtimes'])} (default {engine['default_runtime']})"
        )
        console.print(_table(report, verbose=verbose))
        s = report["summary"]
        console.print(f"{s['passed']} passed, {s['warned']} warned, {s['failed']} failed")
    if report["status"] == "fail" or (strict and report["status"] == "warn"):
        raise typer.Exit(1)
