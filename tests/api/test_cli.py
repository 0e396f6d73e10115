"""The `berth` client commands against a real API (PostgreSQL and Redis of the stack)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from controlplane import client as cli_client
from controlplane.app import create_app
from controlplane.cli import app as cli
from tests.fixtures.stack import ADMIN_TOKEN, Stack


@pytest.fixture
def api(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with TestClient(create_app(stack.settings)) as test_client:

        def make(url: str, token: str) -> httpx.Client:
            test_client.headers["Authorization"] = f"Bearer {token}"
            return test_client

        monkeypatch.setattr(cli_client, "make_client", make)
        yield


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [*args, "--token", ADMIN_TOKEN])
    return result.exit_code, result.stdout, result.stderr


def test_keys_create_list_revoke(api: None) -> None:
    code, out, _ = run(
        "keys", "create", "--name", "ci", "--scope", "read", "--scope", "billing:read", "--json"
    )
    assert code == 0, out
    created = json.loads(out)
    assert created["key"] and sorted(created["scopes"]) == ["billing:read", "read"]
    code, out, _ = run("keys", "list", "--json")
    listed = {k["id"]: k for k in json.loads(out)}
    assert created["id"] in listed
    assert created["key"] not in out  # shown once, at creation only
    code, out, _ = run("keys", "revoke", created["id"])
    assert code == 0 and "revoked" in out


def test_billing_export_prints_csv_and_names_bad_fields(api: None) -> None:
    period = datetime.now(UTC).strftime("%Y-%m")
    code, out, _ = run("billing", "export", "--period", period)
    assert code == 0
    assert out.splitlines()[0].startswith("period,status,tenant,tenant_id,plan")
    code, _, err = run("billing", "export", "--period", "2026-13")
    assert code == 1
    assert "HTTP 422" in err and "(period)" in err
