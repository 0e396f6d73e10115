"""The real `berth` CLI (its console script, as a subprocess) against a real Berth: a
uvicorn API process on a free port, the stack's PostgreSQL and Redis, and its real
Celery worker driving real containers.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import docker
import httpx
import pytest

from controlplane.supervisor import process_commands
from tests.fixtures.stack import ADMIN_TOKEN, ROOT, BerthProcess, Stack

pytestmark = pytest.mark.docker

BERTH = Path(sys.executable).parent / "berth"  # the installed console script


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def api_url(stack: Stack) -> Iterator[str]:
    """A real API server process (uvicorn, as `berth run` starts it) on a free port."""
    port = _free_port()
    argv = process_commands(stack.settings.model_copy(update={"api_port": port}))["api"]
    log = stack.base / f"api-cli-{port}.log"
    proc = subprocess.Popen(
        argv,
        env=stack.env(),
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "API did not come up:\n" + log.read_text()[-3000:]
            time.sleep(0.1)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)


@dataclass
class Result:
    code: int
    out: str
    err: str


class Cli:
    """Runs `berth ARGS...` the way an operator does: BERTH_URL and BERTH_TOKEN only."""

    def __init__(self, url: str, home: Path) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
        self.env.update(
            {"BERTH_URL": url, "BERTH_TOKEN": ADMIN_TOKEN, "HOME": str(home), "COLUMNS": "200"}
        )

    def __call__(
        self, *args: str, stdin: str | None = None, timeout: float = 240, **extra: str
    ) -> Result:
        p = subprocess.run(
            [str(BERTH), *args],
            env={**self.env, **extra},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.home,
        )
        # Whatever happens, the CLI never shows a Python traceback.
        assert "Traceback" not in p.stderr + p.stdout, p.stderr
        return Result(p.returncode, p.stdout, p.stderr)


@pytest.fixture
def berth(api_url: str, live_worker: BerthProcess, tmp_path: Path) -> Cli:
    return Cli(api_url, tmp_path)


def _slug(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _one_error_line(r: Result) -> str:
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.err
    return lines[0]


def test_signup_secrets_deploy_with_progress_and_billing_export(
    berth: Cli, dock: docker.DockerClient
) -> None:
    a, b = _slug("cli"), _slug("cli")
    outputs: list[str] = []
    run = berth

    def berth(*args: str, **kw: str) -> Result:  # every output is scanned for secrets below
        r = run(*args, **kw)
        outputs.extend([r.out, r.err])
        return r

    for slug in (a, b):  # on version 1 whatever earlier tests made current
        r = berth("tenants", "create", slug, "--version", "1", "--wait", "--json")
        assert r.code == 0, r.err
        created = json.loads(r.out)
        assert created["slug"] == slug and created["state"] == "running"
        assert created["blueprint_version"] == "1"

    # Secrets: from stdin and from a file, never on the command line, never printed.
    value_a, value_b = "sk-" + uuid.uuid4().hex, "sk-" + uuid.uuid4().hex
    r = berth("secrets", "set", a, "API_KEY", "--wait", stdin=value_a + "\n")
    assert r.code == 0 and f"set API_KEY on {a}" in r.out, r.err
    secret_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"{b}.secret"
    secret_file.write_text(value_b)
    try:
        r = berth("secrets", "set", b, "API_KEY", "--value-file", str(secret_file), "--wait")
    finally:
        secret_file.unlink()
    assert r.code == 0, r.err
    r = berth("secrets", "ls", a, "--json")
    assert [s["name"] for s in json.loads(r.out)] == ["API_KEY"]
    r = berth("secrets", "ls", a)
    assert r.code == 0 and "API_KEY" in r.out and "NAME" in r.out
    container = json.loads(berth("tenants", "show", a, "--json").out)["container_name"]
    env = dock.containers.get(container).attrs["Config"]["Env"]
    assert f"API_KEY={value_a}" in env  # the value arrived whole (no trailing newline)

    r = berth("tenants", "list")
    assert r.code == 0 and a in r.out and b in r.out and "STATE" in r.out.splitlines()[0]
    listed = {t["slug"]: t for t in json.loads(berth("tenants", "list", "--json").out)}
    assert listed[a]["secrets"] == ["API_KEY"] and listed[b]["state"] == "running"
    r = berth("tenants", "show", a)
    assert r.code == 0 and "API_KEY" in r.out and "running" in r.out

    # deploy 2: a live progress view until the rollout completes.
    r = berth("deploy", "2", "--tenant", a, "--tenant", b, "--canary", "1", "--max-parallel", "2")
    assert r.code == 0, r.err
    for slug in (a, b):
        assert any(
            line.split()[:2] == ["done", slug] and "v1 → v2" in line for line in r.err.splitlines()
        ), r.err
    assert "2/2" in r.err and "completed" in r.err
    assert "completed" in r.out and "2 done" in r.out
    for slug in (a, b):
        shown = json.loads(berth("tenants", "show", slug, "--json").out)
        assert shown["blueprint_version"] == "2" and shown["state"] == "running"

    listed = json.loads(berth("rollouts", "list", "--json").out)
    rollout = listed[0]
    assert rollout["blueprint_version"] == "2" and rollout["state"] == "completed"
    shown = json.loads(berth("rollouts", "show", rollout["id"], "--json").out)
    assert sorted(t["slug"] for t in shown["targets"]) == sorted([a, b])
    r = berth("rollouts", "show", rollout["id"])
    assert r.code == 0 and a in r.out and "completed" in r.out

    incidents = json.loads(berth("incidents", "--tenant", a, "--json").out)
    assert isinstance(incidents, list)

    # Billing: CSV by default, JSON on request; both name both tenants.
    period = datetime.now(UTC).strftime("%Y-%m")
    r = berth("billing", "export")
    assert r.code == 0, r.err
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert {a, b} <= {row["tenant"] for row in rows}
    r = berth("billing", "export", "--period", period, "--json")
    export = json.loads(r.out)
    assert export["period"] == period
    billed = {row["tenant"]: row for row in export["rows"]}
    assert billed[a]["active_seconds"] and float(billed[a]["active_seconds"]) > 0

    # Roll back, with the same live progress: both tenants return to v1.
    r = berth("rollouts", "rollback", rollout["id"])
    assert r.code == 0 and "2/2" in r.err and "v2 → v1" in r.err, r.err
    for slug in (a, b):
        assert json.loads(berth("tenants", "show", slug, "--json").out)["blueprint_version"] == "1"

    r = berth("tenants", "pause", a, "--json")
    assert r.code == 0 and json.loads(r.out)["desired_state"] == "paused", r.err
    r = berth("tenants", "resume", a)
    assert r.code == 0 and r.out.startswith(f"{a}: ") and "desired running" in r.out, r.err
    r = berth("tenants", "restart", b, "--json")
    assert r.code == 0 and json.loads(r.out)["state"] == "pending", r.err

    # Nothing printed a secret value, anywhere.
    assert not [x for x in outputs if value_a in x or value_b in x]

    for slug in (a, b):
        r = berth("tenants", "delete", slug, "--yes", "--json")
        assert r.code == 0 and json.loads(r.out)["desired_state"] == "deleted", r.err


def test_a_halting_deploy_exits_non_zero_and_the_tenant_keeps_serving(berth: Cli) -> None:
    slug = _slug("clih")
    r = berth("tenants", "create", slug, "--wait", "--json")
    assert r.code == 0, r.err
    before = json.loads(r.out)["blueprint_version"]
    r = berth("deploy", "3", "--tenant", slug, "--canary", "1", "--json")
    assert r.code == 4, r.err
    final = json.loads(r.out)
    assert final["state"] == "halted" and final["counts"]["failed"] == 1
    last = r.err.strip().splitlines()[-1]
    assert last.startswith("error: rollout ") and "halted" in last and slug in last
    assert any(line.split()[:2] == ["failed", slug] for line in r.err.splitlines()), r.err
    shown = json.loads(berth("tenants", "show", slug, "--json").out)
    assert shown["state"] == "running" and shown["blueprint_version"] == before != "3"
    assert berth("tenants", "delete", slug, "--yes").code == 0


def test_errors_are_one_line_with_the_reason_and_a_non_zero_exit(berth: Cli) -> None:
    r = berth("tenants", "show", "no-such-tenant")
    assert r.code == 1 and r.out == ""
    line = _one_error_line(r)
    assert "HTTP 404 not_found" in line and "no-such-tenant" in line

    r = berth("tenants", "create", "Bad_Slug", "--json")
    assert r.code == 1 and "HTTP 422 invalid (slug)" in _one_error_line(r)

    version = "cli-" + uuid.uuid4().hex[:8]
    r = berth("blueprints", "add", version, "berth-sample:2", "--json")
    assert r.code == 0 and json.loads(r.out)["is_current"] is False, r.err
    r = berth("blueprints", "list")
    assert r.code == 0 and any(
        line.split()[:2] == [version, "berth-sample:2"] for line in r.out.splitlines()
    )
    r = berth("blueprints", "add", version, "berth-sample:1")
    assert r.code == 1 and "HTTP 409 conflict (version)" in _one_error_line(r)

    r = berth("tenants", "list", BERTH_TOKEN="not-a-key")
    assert r.code == 1 and "HTTP 401" in _one_error_line(r) and "BERTH_TOKEN" in r.err

    r = berth("secrets", "set", "no-such-tenant", "API_KEY", stdin="shh-" + "x" * 20)
    assert r.code == 1 and "not_found" in _one_error_line(r) and "shh-" not in r.err

    closed = f"http://127.0.0.1:{_free_port()}"
    r = berth("tenants", "list", BERTH_URL=closed)
    assert r.code == 3 and "cannot reach Berth" in _one_error_line(r) and closed in r.err

    r = berth("tenants", "delete", "whoever")  # no terminal to confirm on, no --yes
    assert r.code == 2 and "--yes" in _one_error_line(r)


def test_help_never_shows_the_token_and_completion_works_in_bash(berth: Cli) -> None:
    r = berth("deploy", "--help")
    assert r.code == 0 and "--json" in r.out and ADMIN_TOKEN not in r.out

    r = berth("--install-completion", "bash")
    assert r.code == 0, r.err
    script = berth.home / ".bash_completions" / "berth.sh"
    assert script.exists() and str(script) in (berth.home / ".bashrc").read_text()

    slug = _slug("clic")
    assert berth("tenants", "create", slug).code == 0
    try:
        # Real bash, the installed script, the real console script on PATH.
        probe = (
            f'source {script}; COMP_WORDS=(berth "$@"); COMP_CWORD=$#; '
            '_berth_completion berth; printf "%s\\n" "${COMPREPLY[@]}"'
        )

        def complete(*words: str) -> list[str]:
            env = {**berth.env, "PATH": f"{BERTH.parent}:{os.environ['PATH']}"}
            p = subprocess.run(
                ["bash", "-c", probe, "bash", *words],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            return p.stdout.split()

        assert "tenants" in complete("ten")
        assert complete("tenants", "l") == ["list"]
        assert slug in complete("tenants", "show", slug[:6])  # slugs come from the API
    finally:
        berth("tenants", "delete", slug, "--yes")
