"""`berth tenants ...`: sign up, inspect, pause, resume, restart and delete tenants."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

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
from controlplane.client.output import emit, fields, short_time, table

tenants = typer.Typer(
    help="Sign up, inspect, pause, resume, restart and delete tenants.", no_args_is_help=True
)


COLUMNS = [
    ("SLUG", lambda t: t["slug"]),
    ("STATE", lambda t: t["state"]),
    ("VERSION", lambda t: t["blueprint_version"]),
    ("PLAN", lambda t: t["plan"]),
    ("HEALTH", lambda t: t.get("health")),
    ("RESTARTS", lambda t: t.get("restart_count")),
    ("URL", lambda t: t.get("url")),
]


def _one_line(t: dict[str, Any]) -> None:
    typer.echo(
        f"{t['slug']}: {t['state']} (desired {t['desired_state']}, "
        f"v{t['blueprint_version']}, plan {t['plan']})"
    )


def _show(t: dict[str, Any]) -> None:
    limits = t.get("limits") or {}
    last = t.get("last_incident")
    fields(
        t,
        [
            ("slug", t["slug"]),
            ("url", t.get("url")),
            ("state", t["state"] + (f" ({t['state_reason']})" if t.get("state_reason") else "")),
            ("desired", t.get("desired_state")),
            ("version", t["blueprint_version"]),
            ("pinned", t.get("pinned_version")),
            ("plan", t["plan"]),
            (
                "limits",
                f"{limits.get('cpu')} cpu, {limits.get('memory_mb')} MiB, "
                f"{limits.get('pids')} pids",
            ),
            ("health", t.get("health")),
            ("restarts", t.get("restart_count")),
            ("container", t.get("container_name")),
            ("env", sorted((t.get("env") or {}).keys())),
            ("secrets", t.get("secrets")),
            (
                "last incident",
                f"{last['kind']} ({last['severity']}) at {short_time(last['opened_at'])}"
                if last
                else None,
            ),
            ("created", short_time(t.get("created_at"))),
        ],
    )


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            fail(f"{what} must be NAME=VALUE, got {item.split('=')[0]!r}", ExitCode.USAGE)
        out[name] = value
    return out


def wait_for_state(api: Api, slug: str, state: str, timeout: float) -> dict[str, Any]:
    """Long-poll the tenant until it reaches `state` (or failed) or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = max(0.0, min(30.0, deadline - time.monotonic()))
        t: dict[str, Any] = api.get(
            f"/tenants/{slug}", params={"wait_for": state, "timeout": remaining}
        )
        if t["state"] == state:
            return t
        if t["state"] == "failed":
            fail(f"{slug} failed: {t.get('state_reason') or 'no reason recorded'}")
        if time.monotonic() >= deadline:
            fail(f"{slug} is {t['state']}, not {state}, after {timeout:g}s")


@tenants.command("list")
def tenants_list(
    state: Annotated[str | None, typer.Option(help="only tenants in this state")] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Tenants with their state, version and plan."""
    params: dict[str, Any] = {"limit": 500, **({"state": state} if state else {})}
    items = list(Api(url, token).pages("/tenants", params))
    emit(items, as_json, lambda rows: table(rows, COLUMNS))


@tenants.command("show")
def tenants_show(
    slug: SlugArg, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """One tenant: desired and observed state, limits, secrets' names, last incident."""
    emit(Api(url, token).get(f"/tenants/{slug}"), as_json, _show)


@tenants.command("create")
def tenants_create(
    slug: SlugArg,
    plan: Annotated[str | None, typer.Option(help="plan name (default: the server's)")] = None,
    version: Annotated[str | None, typer.Option(help="blueprint version")] = None,
    env: Annotated[list[str] | None, typer.Option(help="NAME=VALUE, repeatable")] = None,
    cpu: Annotated[float | None, typer.Option(help="CPU cores")] = None,
    memory_mb: Annotated[int | None, typer.Option(help="memory limit, MiB")] = None,
    pids: Annotated[int | None, typer.Option(help="PID limit")] = None,
    wait: Annotated[bool, typer.Option(help="wait until the tenant is running")] = False,
    timeout: Annotated[float, typer.Option(help="seconds --wait waits at most")] = 120,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign up a tenant (secrets: `berth secrets set` afterwards, never on the command line)."""
    body: dict[str, Any] = {"slug": slug, "env": _pairs(env or [], "--env")}
    if plan:
        body["plan"] = plan
    if version:
        body["blueprint_version"] = version
    limits = {k: v for k, v in (("cpu", cpu), ("memory_mb", memory_mb), ("pids", pids)) if v}
    if limits:
        body["limits"] = limits
    api = Api(url, token)
    t = api.post("/tenants", json=body)
    if wait:
        t = wait_for_state(api, slug, "running", timeout)
    emit(t, as_json, _one_line)


@tenants.command("delete")
def tenants_delete(
    slug: SlugArg,
    keep_data: Annotated[bool, typer.Option(help="keep the /data volume")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete a tenant: its container, and its data unless --keep-data."""
    if not yes:
        if not sys.stdin.isatty():
            fail("refusing to delete without --yes (stdin is not a terminal)", ExitCode.USAGE)
        what = "container" if keep_data else "container and its /data volume"
        typer.confirm(f"Delete {slug} ({what})?", abort=True, err=True)
    t = Api(url, token).json("DELETE", f"/tenants/{slug}", params={"keep_data": keep_data})
    emit(t, as_json, _one_line)


def _action(name: str, doc: str) -> None:
    def command(
        slug: SlugArg, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, as_json: JsonOpt = False
    ) -> None:
        emit(Api(url, token).post(f"/tenants/{slug}/{name}"), as_json, _one_line)

    command.__doc__ = doc
    tenants.command(name)(command)


_action("pause", "Pause a running tenant in its plan's mode (freeze or stop).")
_action("resume", "Wake a paused tenant.")
_action("restart", "Recreate the container with the same spec and data; clears a crash loop.")
