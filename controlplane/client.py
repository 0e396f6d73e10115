"""`berth keys ...`, `berth billing ...`, `berth tenants ...`: the API from a terminal.

They talk HTTP to a running Berth (BERTH_URL) with a bearer key (BERTH_TOKEN, or
the admin token `berth run` generated in the data directory).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from controlplane.settings import get_settings

keys = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
billing = typer.Typer(help="Usage and billing exports.", no_args_is_help=True)
tenants = typer.Typer(help="List, pause and resume tenants.", no_args_is_help=True)

UrlOpt = Annotated[str, typer.Option(envvar="BERTH_URL", help="Berth API base URL")]
TokenOpt = Annotated[
    str | None, typer.Option(envvar="BERTH_TOKEN", help="API key (default: the admin token)")
]

# Tests swap this for a client bound to an in-process app.
make_client: Callable[[str, str], httpx.Client] = lambda url, token: httpx.Client(  # noqa: E731
    base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60, trust_env=False
)


def _client(url: str, token: str | None) -> httpx.Client:
    return make_client(url, token or get_settings().resolved_admin_token())


def _call(url: str, token: str | None, method: str, path: str, **kw: Any) -> httpx.Response:
    with _client(url, token) as client:
        try:
            r = client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            typer.echo(f"error: cannot reach Berth at {url}: {exc}", err=True)
            raise typer.Exit(2) from exc
    if r.status_code >= 400:
        try:
            body = r.json()
            field = f" ({body['field']})" if body.get("field") else ""
            message = f"{body.get('error')}: {body.get('detail')}{field}"
        except ValueError:
            message = r.text
        typer.echo(f"error: HTTP {r.status_code}: {message}", err=True)
        raise typer.Exit(1)
    return r


def _print(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2))


DEFAULT_URL = "http://127.0.0.1:8000"


@keys.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="a label for the key")],
    scope: Annotated[list[str], typer.Option(help="repeat for several scopes")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Create a key. The key itself is printed once, here, and never again."""
    _print(_call(url, token, "POST", "/api-keys", json={"name": name, "scopes": scope}).json())


@keys.command("list")
def keys_list(url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """List keys (ids, names, scopes; never the keys)."""
    _print(_call(url, token, "GET", "/api-keys").json())


@keys.command("revoke")
def keys_revoke(key_id: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Revoke a key by id."""
    _call(url, token, "DELETE", f"/api-keys/{key_id}")
    typer.echo(f"revoked {key_id}")


@billing.command("export")
def billing_export(
    period: Annotated[str, typer.Option(help="YYYY-MM (UTC)")],
    format: Annotated[str, typer.Option(help="csv or json")] = "csv",  # noqa: A002
    output: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Export a month's usage: one row per tenant, with totals."""
    r = _call(url, token, "GET", "/billing/export", params={"period": period, "format": format})
    if output is None:
        sys.stdout.buffer.write(r.content)
        sys.stdout.flush()
    else:
        output.write_bytes(r.content)
        typer.echo(f"wrote {output}", err=True)


@tenants.command("list")
def tenants_list(url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Tenants with their state, version and plan."""
    cursor: str | None = None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = _call(url, token, "GET", "/tenants", params=params).json()
        for t in page["items"]:
            typer.echo(f"{t['slug']:<32} {t['state']:<12} v{t['blueprint_version']:<8} {t['plan']}")
        cursor = page["next_cursor"]
        if not cursor:
            return


@tenants.command("pause")
def tenants_pause(slug: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Pause a running tenant in its plan's mode."""
    _print(_call(url, token, "POST", f"/tenants/{slug}/pause").json())


@tenants.command("resume")
def tenants_resume(slug: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Wake a paused tenant."""
    _print(_call(url, token, "POST", f"/tenants/{slug}/resume").json())
