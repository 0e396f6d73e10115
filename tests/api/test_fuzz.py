"""Schemathesis against Berth's own OpenAPI document: no 5xx, every answer as declared.

The API runs in-process (ASGI) on a real stack of its own: fuzzing registers
blueprints, makes them current, starts rollouts and edits plans, which would change
the world under every later test sharing the session's stack. No worker runs on
this stack, so the signups it makes are never provisioned; stop_stack removes by
label whatever might exist, and the test checks that nothing is left.

Hypothesis runs in a thread (it is synchronous); each request is handed to the
event loop that owns the app, its database pool and its Redis client.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import docker
import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from controlplane.app import create_app
from controlplane.settings import Settings
from tests.fixtures.stack import ADMIN_TOKEN, Stack, start_stack, stop_stack

pytestmark = pytest.mark.docker

SEED = 20261206
# Examples per operation and generation mode; the whole run stays within ~2 minutes
# on a loaded 2-core machine. Raise it locally with BERTH_FUZZ_EXAMPLES.
EXAMPLES = int(os.environ.get("BERTH_FUZZ_EXAMPLES", "15"))
BASE_URL = "http://berth.test"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXCLUDED = {
    # A server-sent event stream: it ends only when the rollout does, and no worker
    # drives rollouts here. Its 404 and auth are covered by test_scopes/test_rollouts.
    ("GET", "/rollouts/{rollout_id}/events"),
}
# GET /tenants/{slug}?wait_for=... long-polls up to `timeout` (≤ 60 s) when the tenant
# exists; nothing moves tenants here, so the fuzzer's waits are capped.
LONG_POLL_CAP = "0.2"


@pytest.fixture(scope="module")
def fuzz_stack(worker_id: str) -> Iterator[Stack]:
    s = start_stack("fz" + worker_id.replace("gw", ""))
    try:
        yield s
    finally:
        stop_stack(s)
        client = docker.from_env()
        label = f"berth.instance={s.instance}"
        left = (
            client.containers.list(all=True, filters={"label": label})
            + client.volumes.list(filters={"label": label})
            + client.networks.list(filters={"label": label})
        )
        client.close()
        assert left == [], f"fuzzing left Docker objects behind: {left}"


def _request(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Schemathesis' requests-style kwargs as httpx ones."""
    out: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "headers": kwargs.get("headers") or {},
        "params": kwargs.get("params") or None,
    }
    if "json" in kwargs:
        out["json"] = kwargs["json"]
    if kwargs.get("data") is not None:
        data = kwargs["data"]
        out["content"] = data.encode() if isinstance(data, str) else data
    params = dict(out["params"] or {})
    if "wait_for" in params and re.fullmatch(r"/tenants/[^/]+", httpx.URL(out["url"]).path):
        params["timeout"] = LONG_POLL_CAP
        out["params"] = params
    return out


class Fuzzer:
    """Runs each operation's examples, handing requests to the app's event loop."""

    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.loop = loop
        self.failures: list[str] = []
        self.calls = 0
        self.statuses: Counter[tuple[str, int]] = Counter()

    def check(self, case: Any, mode: GenerationMode) -> None:
        call = self.client.request(**_request(case.as_transport_kwargs(base_url=BASE_URL)))
        response = asyncio.run_coroutine_threadsafe(call, self.loop).result(timeout=120)
        self.calls += 1
        self.statuses[(f"{case.method} {case.path}", response.status_code)] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, FailureGroup) as exc:  # collect every failure, then report
            self.failures.append(
                f"{case.method} {case.formatted_path} [{mode.value}] "
                f"-> {response.status_code}: {str(exc)[:600]}"
            )

    def run(self, operation: Any, mode: GenerationMode) -> None:
        @hypothesis.seed(SEED)
        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        def examples(case: Any) -> None:
            self.check(case, mode)

        try:
            examples()
        except hypothesis.errors.Unsatisfiable:
            # An operation without parameters or body has no invalid input to send.
            if mode is not GenerationMode.NEGATIVE:
                raise

    def all(self, schema: Any) -> None:
        for result in schema.get_all_operations():
            operation = result.ok()
            if (operation.method.upper(), operation.path) in EXCLUDED:
                continue
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                self.run(operation, mode)


async def test_openapi_fuzz_finds_no_server_error_or_schema_violation(
    fuzz_stack: Stack,
) -> None:
    app = create_app(fuzz_stack.settings)
    async with app.router.lifespan_context(app):
        schema = schemathesis.openapi.from_dict(app.openapi())
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=BASE_URL,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=120,
        ) as client:
            fuzzer = Fuzzer(client, asyncio.get_running_loop())
            await asyncio.to_thread(fuzzer.all, schema)
    # The fuzzer got past validation into the real logic, not only into 422s.
    created = {op for (op, status) in fuzzer.statuses if op.startswith("POST") and status < 300}
    assert {"POST /tenants", "POST /api-keys"} <= created, sorted(fuzzer.statuses.items())
    failures = fuzzer.failures
    assert failures == [], f"{len(failures)} in {fuzzer.calls} calls:\n" + "\n".join(failures)


def test_the_checks_catch_what_they_must() -> None:
    """Control: a 5xx, an undeclared status and a body off its schema all fail the checks."""
    schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())
    operation = schema["/plans/{name}"]["GET"]
    request = httpx.Request("GET", f"{BASE_URL}/plans/basic")
    case = operation.Case(path_parameters={"name": "basic"})

    def response(status: int, body: dict[str, Any]) -> httpx.Response:
        r = httpx.Response(status, json=body, request=request)
        r.elapsed = timedelta(milliseconds=1)  # set by a real client once the body is read
        return r

    bad = [
        response(500, {"error": "boom", "detail": "x"}),
        response(418, {"error": "teapot", "detail": "x"}),
        response(200, {"name": "basic"}),
        response(404, {"detail": "no error code"}),
    ]
    for r in bad:
        with pytest.raises((AssertionError, FailureGroup)):
            case.validate_response(r, checks=CHECKS)
    good = response(404, {"error": "not_found", "detail": "no plan", "field": None})
    case.validate_response(good, checks=CHECKS)
