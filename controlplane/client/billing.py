"""`berth billing export`: a month's usage, one row per tenant."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from controlplane.client.http import DEFAULT_URL, Api, ExitCode, TokenOpt, UrlOpt, fail

billing = typer.Typer(help="Usage and billing exports.", no_args_is_help=True)


@billing.command("export")
def billing_export(
    period: Annotated[
        str | None, typer.Option(help="YYYY-MM (UTC)  [default: this month]", show_default=False)
    ] = None,
    format: Annotated[str, typer.Option(help="csv or json")] = "csv",  # noqa: A002
    output: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="same as --format json")] = False,
) -> None:
    """Export a month's usage: one row per tenant, with totals (the API's bytes, as is)."""
    params = {
        "period": period or datetime.now(UTC).strftime("%Y-%m"),
        "format": "json" if as_json else format,
    }
    r = Api(url, token).request("GET", "/billing/export", params=params)
    if output is None:
        sys.stdout.buffer.write(r.content)
        sys.stdout.flush()
        return
    try:
        output.write_bytes(r.content)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}", ExitCode.USAGE)
    typer.echo(f"wrote {output}", err=True)
