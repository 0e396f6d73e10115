"""Follow a rollout live over its server-sent events (`GET /rollouts/{id}/events`).

A rich progress bar on stderr counts finished tenants; each tenant's outcome is printed
above it as it happens (on a terminal the bar redraws in place; in a pipe or a CI log
the per-tenant lines and the final bar are what appears). If the stream drops or stays
silent too long, the rollout is re-read and the stream reopened: its snapshot re-syncs
the counts, and tenants already reported are not printed twice.
"""

from __future__ import annotations

import time
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from controlplane.client.http import Api, ExitCode, fail
from controlplane.client.output import err

FINISHED = ("done", "failed", "skipped")
STYLE = {"done": "green", "failed": "red", "skipped": "yellow"}
# The server sends nothing while no tenant changes; a replace can take a provision timeout.
SILENCE = 90.0
MAX_RECONNECTS = 100


def _finished(counts: dict[str, int]) -> int:
    return sum(counts.get(s, 0) for s in FINISHED)


class _View:
    """What the terminal shows: the bar and one line per finished tenant."""

    def __init__(self, progress: Progress, rollout: dict[str, Any]) -> None:
        self.progress = progress
        self.reported: dict[str, str] = {}
        label = "rollback" if rollout.get("kind") == "rollback" else "deploy"
        self.task = progress.add_task(
            f"{label} v{rollout['blueprint_version']}", total=None, state="pending"
        )

    def counts(self, counts: dict[str, int], state: str | None = None) -> None:
        update: dict[str, Any] = {"total": sum(counts.values()), "completed": _finished(counts)}
        if state:
            update["state"] = state
        self.progress.update(self.task, **update)

    def target(self, t: dict[str, Any]) -> None:
        state = t["state"]
        if state not in FINISHED or self.reported.get(t["slug"]) == state:
            return
        self.reported[t["slug"]] = state
        why = f": {t['reason']}" if t.get("reason") else ""
        self.progress.console.print(
            f"  [{STYLE[state]}]{state:<7}[/] {t['slug']} "
            f"v{t['from_version']} → v{t['to_version']} ({t['wave']}){why}",
            highlight=False,
        )


def follow(api: Api, rollout: dict[str, Any]) -> dict[str, Any]:
    """Show the rollout's progress until it ends; return its final state."""
    rid = rollout["id"]
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
    )
    try:
        return _follow(api, rollout, columns)
    except KeyboardInterrupt:
        fail(
            f"stopped following; the rollout goes on: berth rollouts show {rid}",
            ExitCode.INTERRUPTED,
        )


def _follow(api: Api, rollout: dict[str, Any], columns: tuple[Any, ...]) -> dict[str, Any]:
    rid = rollout["id"]
    with Progress(*columns, console=err, transient=False) as progress:
        view = _View(progress, rollout)
        for _ in range(MAX_RECONNECTS):
            with api.events(f"/rollouts/{rid}/events", read_timeout=SILENCE) as events:
                for event, data in events:
                    if event == "snapshot":
                        for t in data.get("targets") or []:
                            view.target(t)
                        view.counts(data["counts"], data["state"])
                    elif event == "target":
                        view.target(data)
                        view.counts(data["counts"])
                    elif event == "rollout":
                        view.counts(data["counts"], data["state"])
            final: dict[str, Any] = api.get(f"/rollouts/{rid}")
            view.counts(final["counts"], final["state"])
            if final["state"] not in ("pending", "canary", "rolling"):
                break
            time.sleep(1)  # the stream ended early: reconnect, but never in a tight loop
        else:
            fail(
                f"lost the event stream of rollout {rid}; it goes on: berth rollouts show {rid}",
                ExitCode.UNREACHABLE,
            )
    return final


def require_completed(final: dict[str, Any]) -> None:
    """Exit with ROLLOUT_FAILED and the rollout's reason unless it completed."""
    if final["state"] != "completed":
        reason = final.get("reason") or "no reason recorded"
        fail(f"rollout {final['id']} {final['state']}: {reason}", ExitCode.ROLLOUT_FAILED)
