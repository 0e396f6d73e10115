"""The `berth` command: run Berth here, or drive a running one over its API."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import typer

from controlplane.client import register
from controlplane.client.http import ExitCode
from controlplane.settings import get_settings


class BerthTyper(typer.Typer):
    """A Typer whose unexpected errors are one line, never a traceback.

    Set BERTH_DEBUG=1 to see the traceback when reporting a bug.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            if os.environ.get("BERTH_DEBUG"):
                raise
            message = " ".join(str(exc).split()) or type(exc).__name__
            print(f"error: {type(exc).__name__}: {message}", file=sys.stderr)
            sys.exit(int(ExitCode.API_ERROR))


app = BerthTyper(
    help="Berth: per-tenant containers control plane.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
register(app)


@app.command(rich_help_panel="Run Berth on this host")
def run() -> None:
    """Run Berth in the foreground: embedded PostgreSQL/Redis if unset, API, worker, beat."""
    from controlplane.supervisor import run as run_supervisor

    raise typer.Exit(run_supervisor(get_settings()))


@app.command(rich_help_panel="Run Berth on this host")
def migrate() -> None:
    """Apply database migrations (BERTH_DATABASE_URL)."""
    from controlplane.migrate import upgrade

    upgrade(get_settings().require_database_url())
    typer.echo("migrations applied")


@app.command(rich_help_panel="Run Berth on this host")
def bootstrap() -> None:
    """Register the sample blueprint as version 1 if no blueprint exists."""
    from controlplane.bootstrap import ensure_default_blueprint

    created = asyncio.run(ensure_default_blueprint(get_settings().require_database_url()))
    typer.echo("registered blueprint 1" if created else "a blueprint exists already")


if __name__ == "__main__":
    app()
