"""`berth keys ...`: scoped API keys."""

from __future__ import annotations

from typing import Annotated

import typer

from controlplane.client.http import DEFAULT_URL, Api, JsonOpt, TokenOpt, UrlOpt
from controlplane.client.output import emit, err, fields, short_time, table

keys = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)

COLUMNS = [
    ("ID", lambda k: k["id"]),
    ("NAME", lambda k: k["name"]),
    ("SCOPES", lambda k: k["scopes"]),
    ("CREATED", lambda k: short_time(k["created_at"])),
    ("LAST USED", lambda k: short_time(k.get("last_used_at"))),
    ("REVOKED", lambda k: short_time(k.get("revoked_at"))),
]


@keys.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="a label for the key")],
    scope: Annotated[list[str], typer.Option(help="repeat for several scopes")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a key. The key itself is printed once, here, and never again."""
    created = Api(url, token).post("/api-keys", json={"name": name, "scopes": scope})
    emit(
        created,
        as_json,
        lambda k: fields(
            k, [("id", k["id"]), ("name", k["name"]), ("scopes", k["scopes"]), ("key", k["key"])]
        ),
    )
    if not as_json:
        err.print("[yellow]Store the key now: it is not shown again.[/]")


@keys.command("list")
def keys_list(url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """List keys (ids, names, scopes; never the keys)."""
    emit(Api(url, token).get("/api-keys"), as_json, lambda rows: table(rows, COLUMNS))


@keys.command("revoke")
def keys_revoke(key_id: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Revoke a key by id."""
    Api(url, token).request("DELETE", f"/api-keys/{key_id}")
    typer.echo(f"revoked {key_id}")
