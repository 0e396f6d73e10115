"""`berth secrets ...`: a tenant's secrets, write-only.

`set` never takes the value as an argument, so it cannot land in shell history or in
`ps`: it reads a hidden prompt, stdin, or a file. Nothing here ever prints a value.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from controlplane.client.http import (
    DEFAULT_URL,
    Api,
    ExitCode,
    JsonOpt,
    SlugArg,
    TokenOpt,
    UrlOpt,
    fail,
)
from controlplane.client.output import emit, print_json, short_time, table
from controlplane.client.tenants import wait_for_state

secrets = typer.Typer(
    help="Set, remove and list a tenant's secrets (values are write-only).", no_args_is_help=True
)

WaitOpt = Annotated[bool, typer.Option(help="wait until the tenant runs again with the change")]
WAIT_TIMEOUT = 120.0
NameArg = Annotated[str, typer.Argument(help="the secret's name (an env variable name)")]


def _strip_newline(value: str) -> str:
    # `echo value | berth secrets set` must not store the newline echo adds.
    return value[:-1] if value.endswith("\n") else value


def read_value(value_file: Path | None) -> str:
    """The secret's value: --value-file (`-` is stdin), piped stdin, or a hidden prompt."""
    if value_file is not None and str(value_file) != "-":
        try:
            value = _strip_newline(value_file.read_text())
        except OSError as exc:
            fail(f"cannot read --value-file {value_file}: {exc.strerror}", ExitCode.USAGE)
    elif value_file is not None or not sys.stdin.isatty():
        value = _strip_newline(sys.stdin.read())
    else:
        value = typer.prompt("Value", hide_input=True, confirmation_prompt=True, err=True)
    if not value:
        fail("the secret's value is empty", ExitCode.USAGE)
    return value


@secrets.command("set")
def secrets_set(
    slug: SlugArg,
    name: NameArg,
    value_file: Annotated[
        Path | None,
        typer.Option(help="read the value from this file ('-' for stdin)", show_default=False),
    ] = None,
    wait: WaitOpt = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a secret; the tenant's container is recreated with it."""
    api = Api(url, token)  # token problems surface before the prompt, not after
    out = api.json("PUT", f"/tenants/{slug}/secrets/{name}", json={"value": read_value(value_file)})
    if wait:
        wait_for_state(api, slug, "running", WAIT_TIMEOUT)
    if as_json:
        print_json(out)
    else:
        typer.echo(f"set {out['name']} on {slug} (the container is recreated with it)")


@secrets.command("rm")
def secrets_rm(
    slug: SlugArg,
    name: NameArg,
    wait: WaitOpt = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Remove a secret; the container is recreated without it."""
    api = Api(url, token)
    api.request("DELETE", f"/tenants/{slug}/secrets/{name}")
    if wait:
        wait_for_state(api, slug, "running", WAIT_TIMEOUT)
    typer.echo(f"removed {name} from {slug}")


@secrets.command("ls")
def secrets_ls(
    slug: SlugArg, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Secret names and when they were set (never their values)."""
    rows = Api(url, token).get(f"/tenants/{slug}/secrets")
    emit(
        rows,
        as_json,
        lambda r: table(
            r, [("NAME", lambda s: s["name"]), ("UPDATED", lambda s: short_time(s["updated_at"]))]
        ),
    )
