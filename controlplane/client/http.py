"""The one HTTP helper every `berth` client command uses.

Every failure becomes one line on stderr and an exit code (see `ExitCode`), never a
traceback: the API's own reason for a refused request ({"error", "detail", "field"}),
or what went wrong reaching it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer

DEFAULT_URL = "http://127.0.0.1:8000"

UrlOpt = Annotated[
    str, typer.Option("--url", envvar="BERTH_URL", help="Berth API base URL.", show_default=True)
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="BERTH_TOKEN",
        help="API key (default: the admin token in BERTH_DATA_DIR).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class ExitCode(IntEnum):
    """What `berth` exits with; documented in the README."""

    OK = 0
    API_ERROR = 1  # the API refused the request (HTTP 4xx/5xx)
    USAGE = 2  # bad arguments (click's own code)
    UNREACHABLE = 3  # no answer from BERTH_URL (refused, timeout, not Berth)
    ROLLOUT_FAILED = 4  # a followed rollout ended halted, not completed
    INTERRUPTED = 130  # Ctrl-C


def fail(message: str, code: ExitCode = ExitCode.API_ERROR) -> NoReturn:
    """Print one line to stderr and exit with `code`."""
    typer.echo("error: " + " ".join(message.split()), err=True)
    raise typer.Exit(int(code))


def default_client(url: str, token: str) -> httpx.Client:
    """An HTTP client for BERTH_URL with the bearer key (tests swap `make_client`)."""
    return httpx.Client(
        base_url=url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(60, connect=10),
        trust_env=False,
    )


def resolve_token(token: str | None) -> str:
    """--token / BERTH_TOKEN, else BERTH_ADMIN_TOKEN or the admin.token `berth run` wrote."""
    if token:
        return token
    if os.environ.get("BERTH_ADMIN_TOKEN"):
        return os.environ["BERTH_ADMIN_TOKEN"]
    path = Path(os.environ.get("BERTH_DATA_DIR", ".berth")) / "admin.token"
    try:
        return path.read_text().strip()
    except OSError:
        # Never generate one here: a client must not invent credentials.
        fail(f"no API key: set BERTH_TOKEN (or pass --token); {path} does not exist")


def reason(response: httpx.Response) -> str:
    """The API's reason for a refused request, on one line."""
    try:
        body = response.json()
    except ValueError:
        text = " ".join(response.text.split())[:200]
        return f"HTTP {response.status_code}: {text or response.reason_phrase}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}: {json.dumps(body)[:200]}"
    field = body.get("field")
    detail = body.get("detail")
    if isinstance(detail, list):  # validation errors: [{"field", "message"}, ...]
        parts = []
        for item in detail:
            if isinstance(item, dict):
                where = item.get("field")
                msg = str(item.get("message", ""))
                parts.append(msg if where in (None, field) else f"{where}: {msg}")
            else:
                parts.append(str(item))
        detail = "; ".join(parts)
    where = f" ({field})" if field else ""
    message = f"HTTP {response.status_code} {body.get('error', 'error')}{where}: {detail}"
    if response.status_code == 401:
        message += " (check BERTH_TOKEN)"
    return message


class Api:
    """A Berth API session for one command."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        self.token = resolve_token(token)

    def _client(self) -> httpx.Client:
        from controlplane import client as package  # looked up late: tests replace it

        return package.make_client(self.url, self.token)

    def _unreachable(self, exc: httpx.HTTPError) -> NoReturn:
        if isinstance(exc, httpx.ConnectError):
            what = "connection refused or host unknown; is Berth running? (BERTH_URL)"
        elif isinstance(exc, httpx.TimeoutException):
            what = "timed out"
        else:
            what = f"{type(exc).__name__}: {exc}"
        fail(f"cannot reach Berth at {self.url}: {what}", ExitCode.UNREACHABLE)

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """Send one request; exit with the API's reason if it is refused."""
        with self._client() as client:
            try:
                response = client.request(method, path, **kw)
            except httpx.HTTPError as exc:
                self._unreachable(exc)
        if response.status_code >= 400:
            fail(reason(response))
        return response

    def json(self, method: str, path: str, **kw: Any) -> Any:
        """Send one request and decode its JSON answer."""
        response = self.request(method, path, **kw)
        try:
            return response.json()
        except ValueError:
            fail(
                f"{self.url} answered {path} with something that is not JSON; is it Berth?",
                ExitCode.UNREACHABLE,
            )

    def get(self, path: str, **kw: Any) -> Any:
        return self.json("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.json("POST", path, **kw)

    def pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a cursor-paginated list ({"items", "next_cursor"})."""
        cursor: str | None = None
        while True:
            page = self.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    @contextmanager
    def events(self, path: str, *, read_timeout: float) -> Iterator[Iterator[tuple[str, Any]]]:
        """Server-sent events from `path` as (event, decoded data) pairs.

        A read that waits longer than `read_timeout` ends the iteration quietly, so the
        caller can re-check state and reconnect instead of hanging on a dead server.
        """
        with self._client() as client:
            try:
                with client.stream(
                    "GET", path, timeout=httpx.Timeout(read_timeout, connect=10)
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                        fail(reason(response))
                    yield _parse_sse(response)
            except httpx.HTTPError as exc:
                self._unreachable(exc)


def complete_slug(incomplete: str) -> list[str]:
    """Shell completion for tenant slugs, from BERTH_URL; silent (no slugs) on any failure."""
    url = os.environ.get("BERTH_URL", DEFAULT_URL)
    token = os.environ.get("BERTH_TOKEN") or os.environ.get("BERTH_ADMIN_TOKEN")
    if not token:
        return []
    try:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=2, trust_env=False
        ) as client:
            items = client.get("/tenants", params={"limit": 500}).json()["items"]
        return [t["slug"] for t in items if t["slug"].startswith(incomplete)]
    except Exception:  # noqa: BLE001 - a completion must never print a traceback
        return []


SlugArg = Annotated[str, typer.Argument(help="the tenant's slug", autocompletion=complete_slug)]


class SseDecoder:
    """Server-sent events a line at a time, so sync and async readers share one parser."""

    def __init__(self) -> None:
        self.event = "message"
        self.data: list[str] = []

    def feed(self, line: str) -> tuple[str, Any] | None:
        """The (event name, decoded JSON data) that `line` completes, else None.

        A blank line ends a message; comments and unknown fields are skipped.
        """
        if not line:
            message = (self.event, json.loads("\n".join(self.data))) if self.data else None
            self.event, self.data = "message", []
            return message
        if line.startswith("event:"):
            self.event = line[6:].strip()
        elif line.startswith("data:"):
            self.data.append(line[5:].lstrip())
        return None


def _parse_sse(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    decoder = SseDecoder()
    try:
        for line in response.iter_lines():
            if (message := decoder.feed(line)) is not None:
                yield message
    except (httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError):
        return
