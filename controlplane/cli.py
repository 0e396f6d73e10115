"""The `berth` command."""

from __future__ import annotations

import asyncio

import typer

from controlplane.client import billing, keys, tenants
from controlplane.doctor import doctor
from controlplane.settings import get_settings

app = typer.Typer(help="Berth: per-tenant containers control plane.", no_args_is_help=True)
app.add_typer(keys, name="keys")
app.add_typer(billing, name="billing")
app.add_typer(tenants, name="tenants")
app.command()(doctor)


@app.command()
def run() -> None:
    """Run Berth in the foreground: embedded PostgreSQL/Redis if unset, API, worker, beat."""
    from controlplane.supervisor import run as run_supervisor

    raise typer.Exit(run_supervisor(get_settings()))


@app.command()
def migrate() -> None:
    """Apply database migrations (BERTH_DATABASE_URL)."""
    from controlplane.migrate import upgrade

    upgrade(get_settings().require_database_url())
    typer.echo("migrations applied")


@app.command()
def bootstrap() -> None:
    """Register the sample blueprint as version 1 if no blueprint exists."""
    from controlplane.bootstrap import ensure_default_blueprint

    created = asyncio.run(ensure_default_blueprint(get_settings().require_database_url()))
    typer.echo("registered blueprint 1" if created else "a blueprint exists already")


if __name__ == "__main__":
    app()
