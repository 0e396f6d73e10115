"""`berth incidents`: OOM kills, crashes, failed health checks and crash loops."""

from __future__ import annotations

from itertools import islice
from typing import Annotated, Any

import typer

from controlplane.client.http import DEFAULT_URL, Api, JsonOpt, TokenOpt, UrlOpt
from controlplane.client.output import emit, short_time, table

COLUMNS = [
    ("ID", lambda i: i["id"]),
    ("TENANT", lambda i: i["tenant"]),
    ("KIND", lambda i: i["kind"]),
    ("SEVERITY", lambda i: i["severity"]),
    ("EXIT", lambda i: i.get("exit_code")),
    ("COUNT", lambda i: i["occurrences"]),
    ("OPENED", lambda i: short_time(i["opened_at"])),
    ("RESOLVED", lambda i: short_time(i.get("resolved_at"))),
]


def incidents(
    tenant: Annotated[str | None, typer.Option(help="only this tenant's")] = None,
    kind: Annotated[str | None, typer.Option(help="oom, crash, unhealthy, crashloop")] = None,
    open_: Annotated[
        bool | None,
        typer.Option(
            "--open/--resolved", help="only open, or only resolved, incidents", show_default=False
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="newest N")] = 50,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Incidents, newest first."""
    params: dict[str, Any] = {"limit": min(limit, 500)}
    for key, value in (("tenant", tenant), ("kind", kind), ("open", open_)):
        if value is not None:
            params[key] = str(value).lower() if isinstance(value, bool) else value
    rows = list(islice(Api(url, token).pages("/incidents", params), limit))
    emit(rows, as_json, lambda r: table(r, COLUMNS))
