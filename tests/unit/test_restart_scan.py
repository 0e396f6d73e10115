"""Which running containers the reconciler inspects for restarts the watcher missed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from provisioner.restart_scan import may_have_restarted, uptime_ceiling
from provisioner.runtime.base import ContainerInfo

ACCOUNTED = datetime(2026, 12, 6, 9, 0, 0, tzinfo=UTC)
T0 = ACCOUNTED.timestamp()


def _running(status: str, cid: str = "c1") -> ContainerInfo:
    return ContainerInfo(id=cid, name="berth-a", labels={}, state="running", status=status)


@pytest.mark.parametrize(
    ("status", "ceiling"),
    [
        ("Up Less than a second", 1.0),
        ("Up 1 second", 2.0),
        ("Up 42 seconds (healthy)", 43.0),
        ("Up About a minute", 120.0),
        ("Up 7 minutes (Paused)", 480.0),
        ("Up About an hour", 5400.0),
        ("Up 3 hours (unhealthy)", 12600.0),
        ("Up 3 days", None),
        ("Exited (137) 2 seconds ago", None),
        ("Restarting (1) Less than a second ago", None),
        ("", None),
    ],
)
def test_uptime_ceiling_is_an_upper_bound_in_the_status_lines_unit(
    status: str, ceiling: float | None
) -> None:
    assert uptime_ceiling(status) == ceiling


def test_a_container_unchanged_since_berth_marked_it_running_is_not_inspected() -> None:
    # Started 0.3 s before Berth marked it running (its health check); 10.5 s later
    # the engine says "Up 10 seconds", and no start event since the last sweep.
    assert not may_have_restarted(_running("Up 10 seconds"), ACCOUNTED, T0 + 10.5, {})
    # Its own first start, seen in the events window, precedes the accounting.
    assert not may_have_restarted(_running("Up 10 seconds"), ACCOUNTED, T0 + 10.5, {"c1": T0 - 0.3})
    # Much later, in minutes.
    assert not may_have_restarted(_running("Up 5 minutes"), ACCOUNTED, T0 + 330, {})


def test_a_restart_within_a_second_of_accounting_is_seen_only_through_its_event() -> None:
    # OOM-killed and restarted by the engine 0.6 s after Berth marked it running:
    # 10 s later "Up 9 seconds" (9.4 s) cannot be told apart from the first start...
    assert not may_have_restarted(_running("Up 9 seconds"), ACCOUNTED, T0 + 10.0, {})
    # ...but the engine's start event, after the accounting, can.
    assert may_have_restarted(_running("Up 9 seconds"), ACCOUNTED, T0 + 10.0, {"c1": T0 + 0.6})
    # Another container's start says nothing about this one.
    assert not may_have_restarted(_running("Up 9 seconds"), ACCOUNTED, T0 + 10.0, {"c2": T0 + 0.6})


def test_a_restart_whose_event_was_lost_is_still_caught_by_the_status_line() -> None:
    assert may_have_restarted(_running("Up 3 seconds"), ACCOUNTED, T0 + 10.0, {})
    # Sweeps were held up for minutes: the bound in minutes still proves it.
    assert may_have_restarted(_running("Up 2 minutes"), ACCOUNTED, T0 + 400.0, {})
