"""`berth blueprints ...`: the versions tenants can run."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from controlplane.client.http import DEFAULT_URL, Api, ExitCode, JsonOpt, TokenOpt, UrlOpt, fail
from controlplane.client.output import emit, short_time, table

blueprints = typer.Typer(help="List and register blueprint versions.", no_args_is_help=True)

COLUMNS = [
    ("VERSION", lambda b: b["version"]),
    ("IMAGE", lambda b: b["image"]),
    ("PORT", lambda b: b["port"]),
    ("HEALTH", lambda b: b["health_path"]),
    ("USER", lambda b: b["user"]),
    ("CURRENT", lambda b: b["is_current"]),
    ("CREATED", lambda b: short_time(b["created_at"])),
]


@blueprints.command("list")
def blueprints_list(
    url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Blueprint versions, oldest first; CURRENT is what new signups get."""
    emit(Api(url, token).get("/blueprints"), as_json, lambda rows: table(rows, COLUMNS))


@blueprints.command("add")
def blueprints_add(
    version: Annotated[str, typer.Argument(help="version name, e.g. 2 or 2026.12.1")],
    image: Annotated[str, typer.Argument(help="image reference, e.g. registry/agent:2")],
    port: Annotated[int, typer.Option(help="the port the app listens on")] = 8080,
    health_path: Annotated[str, typer.Option(help="answers 200 when healthy")] = "/health",
    user: Annotated[str, typer.Option(help="numeric uid:gid (never 0)")] = "10001:10001",
    env: Annotated[list[str] | None, typer.Option(help="default NAME=VALUE, repeatable")] = None,
    current: Annotated[bool, typer.Option(help="new signups get this version")] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a blueprint version (roll it out with `berth deploy VERSION`)."""
    default_env: dict[str, str] = {}
    for item in env or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            fail(f"--env must be NAME=VALUE, got {name!r}", ExitCode.USAGE)
        default_env[name] = value
    body: dict[str, Any] = {
        "version": version,
        "image": image,
        "port": port,
        "health_path": health_path,
        "user": user,
        "default_env": default_env,
        "make_current": current,
    }
    bp = Api(url, token).post("/blueprints", json=body)
    emit(bp, as_json, lambda b: typer.echo(f"registered blueprint {b['version']} ({b['image']})"))
