"""`berth deploy VERSION` and `berth rollouts list|show|rollback`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from controlplane.client.http import (
    DEFAULT_URL,
    Api,
    ExitCode,
    JsonOpt,
    TokenOpt,
    UrlOpt,
    fail,
)
from controlplane.client.output import emit, fields, out, short_time, table
from controlplane.client.progress import follow, require_completed

rollouts = typer.Typer(help="List, inspect and roll back rollouts.", no_args_is_help=True)

DetachOpt = Annotated[
    bool, typer.Option("--detach", "-d", help="start it and return; do not follow progress")
]

COLUMNS = [
    ("ID", lambda r: r["id"]),
    ("KIND", lambda r: r["kind"]),
    ("VERSION", lambda r: r["blueprint_version"]),
    ("STATE", lambda r: r["state"]),
    ("DONE", lambda r: r["counts"].get("done", 0)),
    ("FAILED", lambda r: r["counts"].get("failed", 0)),
    ("SKIPPED", lambda r: r["counts"].get("skipped", 0)),
    ("TOTAL", lambda r: sum(r["counts"].values())),
    ("CREATED", lambda r: short_time(r["created_at"])),
]
TARGET_COLUMNS = [
    ("TENANT", lambda t: t["slug"]),
    ("WAVE", lambda t: t["wave"]),
    ("FROM", lambda t: t["from_version"]),
    ("TO", lambda t: t["to_version"]),
    ("STATE", lambda t: t["state"]),
    ("REASON", lambda t: t.get("reason")),
]


def _summary(r: dict[str, Any]) -> None:
    counts = ", ".join(f"{n} {s}" for s, n in r["counts"].items() if n) or "no tenants"
    duration = r.get("duration_seconds")
    fields(
        r,
        [
            ("rollout", r["id"]),
            ("kind", r["kind"] + (f" of {r['rollback_of']}" if r.get("rollback_of") else "")),
            ("version", r["blueprint_version"]),
            ("state", r["state"] + (f" ({r['reason']})" if r.get("reason") else "")),
            ("tenants", counts),
            (
                "waves",
                f"canary {r['canary_count']}, then {r['max_parallel']} at a time, "
                f"halt after {r['max_failures']} failures",
            ),
            ("selector", r.get("selector") or "all"),
            ("started", short_time(r.get("started_at"))),
            ("duration", f"{duration:.1f} s" if duration is not None else None),
        ],
    )


def _show(r: dict[str, Any]) -> None:
    _summary(r)
    if r.get("targets"):
        out.print()
        table(r["targets"], TARGET_COLUMNS)


def _run(api: Api, started: dict[str, Any], *, detach: bool, as_json: bool) -> None:
    """Follow a rollout the API just started (unless detached), print it, set the exit code."""
    if detach:
        emit(started, as_json, lambda r: typer.echo(f"rollout {r['id']} started ({r['state']})"))
        return
    final = follow(api, started)
    emit(final, as_json, _summary)
    require_completed(final)


def _failures(value: str) -> int | float:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            fail(f"--max-failures must be a count or a ratio, got {value!r}", ExitCode.USAGE)


def deploy(
    version: Annotated[str, typer.Argument(help="the blueprint version to roll out")],
    max_parallel: Annotated[int, typer.Option(help="tenants replaced at once")] = 10,
    canary: Annotated[str, typer.Option(help="first wave: a count or a percent")] = "5%",
    max_failures: Annotated[
        str, typer.Option(help="failures that halt it: a count or a ratio < 1")
    ] = "0.1",
    tenant: Annotated[
        list[str] | None, typer.Option("--tenant", "-t", help="only these tenants (repeatable)")
    ] = None,
    plan: Annotated[str | None, typer.Option(help="only tenants on this plan")] = None,
    detach: DetachOpt = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Roll VERSION out in health-gated waves, with live progress; non-zero if it halts."""
    selector: dict[str, Any] = {}
    if tenant:
        selector["slugs"] = tenant
    if plan:
        selector["plan"] = plan
    body = {
        "max_parallel": max_parallel,
        "canary": int(canary) if canary.isdigit() else canary,
        "max_failures": _failures(max_failures),
        "selector": selector,
    }
    api = Api(url, token)
    _run(api, api.post(f"/blueprints/{version}/deploy", json=body), detach=detach, as_json=as_json)


@rollouts.command("list")
def rollouts_list(
    limit: Annotated[int, typer.Option(help="newest N")] = 20,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rollouts, newest first, with their tenants' counts."""
    rows = Api(url, token).get("/rollouts", params={"limit": limit})
    emit(rows, as_json, lambda r: table(r, COLUMNS))


@rollouts.command("show")
def rollouts_show(
    rollout_id: Annotated[str, typer.Argument(help="the rollout's id")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One rollout: counts, timings, and every tenant's result."""
    emit(Api(url, token).get(f"/rollouts/{rollout_id}"), as_json, _show)


@rollouts.command("rollback")
def rollouts_rollback(
    rollout_id: Annotated[str, typer.Argument(help="the rollout to undo")],
    detach: DetachOpt = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Return the tenants a rollout upgraded to their previous version, with live progress."""
    api = Api(url, token)
    _run(api, api.post(f"/rollouts/{rollout_id}/rollback"), detach=detach, as_json=as_json)
