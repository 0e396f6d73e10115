"""`provision`: signup latency, API call → healthy, against raw Docker SDK calls.

Berth: POST /tenants, then a long-poll GET /tenants/{slug}?wait_for=running (the API is
woken by PostgreSQL NOTIFY when the worker commits the state).
Raw: the identical container spec (provisioner.spec.build_spec, DockerBackend's own
host config) created with the Docker SDK directly: create_volume, create_container,
start, inspect for the IP, then GET http://<ip>:<port><health> every
settings.health_poll_interval until 200.

Tenants are created one at a time; each iteration provisions one Berth tenant and
one raw container (plus one load-matched raw container, below), in rotating order
so machine noise hits every side equally, then deletes them (Berth via DELETE
/tenants/{slug}) so every iteration starts from the same host: running sample
containers cost CPU (their image HEALTHCHECK execs every 2 s), and letting them pile
up makes later iterations slower than earlier ones. One unmeasured warm-up of each
side goes first (it creates the tenants network and warms the worker's pools); its
latency is reported as "cold".

A third side, "raw under the same API polling", repeats the raw provision while a
thread polls GET /tenants/{slug} every 10 ms, as the Berth measurement does: on a
2-core host that polling alone slows the engine's container start, so this
load-matched baseline isolates what Berth itself adds.

Phase times come from the engine's event timestamps (container create/start) and the
Celery worker log (task received/succeeded), both on the same host clock.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import docker.utils
import httpx

from bench.harness import Benchmark, Row, RunConfig, percentile
from bench.stack import BenchStack, DockerEvents, berth_stack
from controlplane.settings import Settings
from provisioner.runtime.base import ContainerSpec
from provisioner.runtime.docker import CountingAPIClient, DockerBackend
from provisioner.spec import LABEL_TENANT_ID, TenantSpecInput, build_spec, container_name

NAME = "provision"
CLEANUP_PARALLEL = 8  # docker-py keeps up to 10 pooled connections per client
QUICK_SAMPLES = 20
FULL_SAMPLES = 50
CLIENT_POLL = 0.010  # how often the benchmark asks the API for the tenant's state
TIMEOUT = 60.0
TARGET = 1.25

Log = Callable[[str], None]

# Celery's default worker log format: "[2025-01-01 12:00:00,123: INFO/MainProcess] ..."
_CELERY_LINE = re.compile(
    r"^\[(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): \w+/[^\]]+\] "
    r"Task berth\.converge_tenant\[(?P<id>[0-9a-f-]+)\] (?P<what>received|succeeded)"
)


@dataclass
class Sample:
    """One provision; marks are wall-clock times (time.time() scale) of its steps."""

    slug: str
    total: float
    wall0: float
    marks: dict[str, float] = field(default_factory=dict)

    @property
    def container(self) -> str:
        return container_name(self.slug)


@dataclass(frozen=True)
class Blueprint:
    version: str
    image: str
    port: int
    health_path: str
    user: str
    default_env: dict[str, str]


# --- Berth ----------------------------------------------------------------------------


def berth_provision(client: httpx.Client, slug: str) -> Sample:
    wall0, t0 = time.time(), time.perf_counter()
    r = client.post("/tenants", json={"slug": slug})
    t_posted = time.perf_counter()
    if r.status_code != 202:
        raise RuntimeError(f"POST /tenants {slug}: {r.status_code} {r.text[:300]}")
    tick = t_posted
    while True:
        # Long-poll: the API answers when the worker's state write commits
        # (LISTEN/NOTIFY), so measuring does not load the host with polling.
        r = client.get(f"/tenants/{slug}", params={"wait_for": "running", "timeout": TIMEOUT})
        now = time.perf_counter()
        body: dict[str, Any] = r.json() if r.status_code == 200 else {}
        state = body.get("state")
        if state == "running":
            break
        if state == "failed":
            raise RuntimeError(f"{slug} failed: {body.get('state_reason')}")
        if now - t0 > TIMEOUT:
            raise RuntimeError(f"{slug} not running after {TIMEOUT:g}s (last: {r.text[:300]})")
        tick += CLIENT_POLL
        delay = tick - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        else:
            tick = time.perf_counter()
    return Sample(
        slug=slug,
        total=now - t0,
        wall0=wall0,
        marks={"posted": wall0 + (t_posted - t0), "observed": wall0 + (now - t0)},
    )


def berth_delete_all(client: httpx.Client, slugs: Sequence[str]) -> None:
    for slug in slugs:
        r = client.delete(f"/tenants/{slug}")
        if r.status_code not in (202, 404):
            raise RuntimeError(f"DELETE /tenants/{slug}: {r.status_code} {r.text[:300]}")
    deadline = time.monotonic() + TIMEOUT
    left = list(slugs)
    while left and time.monotonic() < deadline:
        left = [s for s in left if client.get(f"/tenants/{s}").status_code != 404]
        if left:
            time.sleep(0.1)
    if left:
        raise RuntimeError(f"tenants not deleted within {TIMEOUT:g}s: {left}")


# --- raw Docker SDK -------------------------------------------------------------------


class RawDocker:
    """The same container, made with direct SDK calls and no control plane."""

    def __init__(self, settings: Settings, blueprint: Blueprint, limits: dict[str, Any]):
        self.settings = settings
        self.blueprint = blueprint
        self.limits = limits
        # The same client class and options DockerBackend uses by default.
        self.api = CountingAPIClient(version="auto", timeout=60, **docker.utils.kwargs_from_env())
        # Used only for DockerBackend._create: the identical host config and create call.
        self.backend = DockerBackend(self.api, network=settings.tenant_network)
        self.http = httpx.Client(timeout=1.0)
        self.made: list[tuple[str, str]] = []  # (container id, volume)

    def spec(self, slug: str, tenant_id: str) -> ContainerSpec:
        s, bp = self.settings, self.blueprint
        return build_spec(
            TenantSpecInput(
                tenant_id=tenant_id,
                slug=slug,
                generation=1,
                blueprint_version=bp.version,
                image=bp.image,
                port=bp.port,
                user=bp.user,
                cpu=float(self.limits["cpu"]),
                memory_mb=int(self.limits["memory_mb"]),
                pids=int(self.limits["pids"]),
                blueprint_env=bp.default_env,
                tenant_env={},
                secrets={},
                domain=s.domain,
                network=s.tenant_network,
                instance=s.instance,
                entrypoints=s.traefik_entrypoints,
                middlewares=s.traefik_middlewares,
            )
        )

    def provision(self, slug: str) -> Sample:
        spec = self.spec(slug, str(uuid.uuid4()))
        poll = self.settings.health_poll_interval
        wall0, t0 = time.time(), time.perf_counter()
        self.api.create_volume(spec.volume, driver="local", labels=dict(spec.volume_labels))
        container_id = self.backend._create(spec)
        self.made.append((container_id, spec.volume))
        self.api.start(container_id)
        data = self.api.inspect_container(container_id)
        ip = data["NetworkSettings"]["Networks"][spec.network]["IPAddress"]
        url = f"http://{ip}:{self.blueprint.port}{self.blueprint.health_path}"
        while True:
            try:
                healthy = self.http.get(url).status_code == 200
            except httpx.HTTPError:
                healthy = False
            now = time.perf_counter()
            if healthy:
                break
            if now - t0 > TIMEOUT:
                raise RuntimeError(f"raw {slug}: {url} not healthy after {TIMEOUT:g}s")
            time.sleep(poll)
        return Sample(slug=slug, total=now - t0, wall0=wall0)

    def cleanup(self) -> None:
        """Remove what this client made, a few at a time (one by one, a burst's fifty
        took longer than making them); between samples, so no measurement waits."""

        def remove(made: tuple[str, str]) -> None:
            self.api.remove_container(made[0], force=True, v=False)
            self.api.remove_volume(made[1], force=True)

        with ThreadPoolExecutor(CLEANUP_PARALLEL) as pool:
            list(pool.map(remove, self.made))
        self.made.clear()

    def close(self) -> None:
        self.http.close()
        self.api.close()


# --- same-spec check ------------------------------------------------------------------


def spec_differences(api: CountingAPIClient, berth_slug: str, raw_slug: str) -> list[str]:
    """Fields where the Berth and raw containers differ beyond slug and tenant id."""

    def normalised(slug: str) -> dict[str, Any]:
        data = api.inspect_container(container_name(slug))
        cfg, host = data["Config"], data["HostConfig"]
        tenant_id = cfg["Labels"][LABEL_TENANT_ID]
        part = {
            "Image": cfg["Image"],
            "User": cfg["User"],
            "Hostname": cfg["Hostname"],
            "Env": sorted(cfg["Env"]),
            "Labels": cfg["Labels"],
            "HostConfig": host,
        }
        text = json.dumps(part, sort_keys=True)
        for old, new in (
            (tenant_id, "<id>"),
            (tenant_id.replace("-", "")[:12], "<id12>"),
            (slug, "<slug>"),
        ):
            text = text.replace(old, new)
        result: dict[str, Any] = json.loads(text)
        return result

    a, b = normalised(berth_slug), normalised(raw_slug)
    diffs = [k for k in ("Image", "User", "Hostname", "Env", "Labels") if a[k] != b[k]]
    diffs += [
        f"HostConfig.{k}"
        for k in sorted(set(a["HostConfig"]) | set(b["HostConfig"]))
        if a["HostConfig"].get(k) != b["HostConfig"].get(k)
    ]
    return diffs


# --- phases ---------------------------------------------------------------------------


def celery_task_times(log_paths: Sequence[Path]) -> list[tuple[str, str, float]]:
    """(task id, "received"|"succeeded", wall-clock time) from the worker logs."""
    out: list[tuple[str, str, float]] = []
    for path in log_paths:
        for line in path.read_text(errors="replace").splitlines():
            m = _CELERY_LINE.match(line)
            if m:
                ts = datetime.strptime(m["ts"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                out.append((m["id"], m["what"], ts))
    return out


def attach_berth_marks(
    samples: Sequence[Sample], events: DockerEvents, tasks: Sequence[tuple[str, str, float]]
) -> None:
    received = [(tid, ts) for tid, what, ts in tasks if what == "received"]
    succeeded = {tid: ts for tid, what, ts in tasks if what == "succeeded"}
    for s in samples:
        for action in ("create", "start"):
            at = events.at(s.container, action)
            if at is not None:
                s.marks[action] = at
        # Tenants are provisioned one at a time: the one converge task received
        # between this POST and the state being seen as running is this tenant's.
        # (Celery logs have millisecond resolution, hence the 1 ms slack.)
        lo, hi = s.wall0 - 0.001, s.marks["observed"] + 0.001
        mine = [(tid, ts) for tid, ts in received if lo <= ts <= hi]
        if len(mine) == 1:
            tid, ts = mine[0]
            s.marks["received"] = ts
            if tid in succeeded:
                s.marks["succeeded"] = succeeded[tid]


def attach_raw_marks(samples: Sequence[Sample], events: DockerEvents) -> None:
    for s in samples:
        for action in ("create", "start"):
            at = events.at(s.container, action)
            if at is not None:
                s.marks[action] = at
        s.marks["healthy"] = s.wall0 + s.total


def phase_ms(samples: Sequence[Sample], start: str, end: str) -> float | None:
    """p50 of (end - start) in ms over the samples that have both marks."""
    values = []
    for s in samples:
        a = s.wall0 if start == "call" else s.marks.get(start)
        b = s.marks.get(end)
        if a is not None and b is not None:
            values.append((b - a) * 1000)
    return percentile(values, 50) if values else None


# --- the benchmark --------------------------------------------------------------------


class ApiPoller:
    """The benchmark's own load on Berth, replayed beside a raw provision.

    Watching a Berth signup means GET /tenants/{slug} every CLIENT_POLL; on a small
    host that load (client, API, PostgreSQL) slows the engine's own work. Running the
    same polling during a raw provision gives a load-matched baseline.
    """

    def __init__(self, bs: BenchStack, slug: str) -> None:
        self.client = httpx.Client(base_url=bs.base_url, headers=bs.client.headers, timeout=30)
        self.path = f"/tenants/{slug}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        tick = time.perf_counter()
        while not self._stop.is_set():
            try:
                self.client.get(self.path)
            except httpx.HTTPError:
                pass  # load only: a failed poll is not this side's measurement
            tick += CLIENT_POLL
            delay = tick - time.perf_counter()
            if delay > 0:
                self._stop.wait(delay)
            else:
                tick = time.perf_counter()

    def __enter__(self) -> ApiPoller:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="bench-poller", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def close(self) -> None:
        self.client.close()


def _blueprint(client: httpx.Client) -> Blueprint:
    r = client.get("/blueprints")
    r.raise_for_status()
    bp = next(b for b in r.json() if b["is_current"])
    return Blueprint(
        version=bp["version"],
        image=bp["image"],
        port=int(bp["port"]),
        health_path=bp["health_path"],
        user=bp["user"],
        default_env=dict(bp["default_env"]),
    )


@dataclass
class Measurement:
    berth: list[Sample] = field(default_factory=list)
    raw: list[Sample] = field(default_factory=list)
    raw_loaded: list[Sample] = field(default_factory=list)
    cold: dict[str, Sample] = field(default_factory=dict)
    spec_diffs: list[str] = field(default_factory=list)


def _measure(bs: BenchStack, raw_holder: list[RawDocker], n: int, log: Log) -> Measurement:
    run = uuid.uuid4().hex[:6]
    client = bs.client
    m = Measurement()
    # Warm-up (unmeasured): the first signup creates the tenants network and warms
    # the worker (settings, DB pool, Docker client); it also tells us the plan's limits.
    m.cold["berth"] = berth_provision(client, f"bw{run}")
    limits = client.get(f"/tenants/{m.cold['berth'].slug}").json()["limits"]
    raw = RawDocker(bs.stack.settings, _blueprint(client), limits)
    raw_holder.append(raw)
    m.cold["raw"] = raw.provision(f"rw{run}")
    log(
        f"  warm-up: berth {m.cold['berth'].total * 1000:.0f} ms, "
        f"raw {m.cold['raw'].total * 1000:.0f} ms"
    )
    raw.cleanup()
    poller = ApiPoller(bs, m.cold["berth"].slug)
    sides = ("berth", "raw", "loaded")
    try:
        for i in range(n):
            # Rotate which side goes first, so no side always follows the same one.
            for side in sides[i % 3 :] + sides[: i % 3]:
                if side == "berth":
                    m.berth.append(berth_provision(client, f"bb{run}-{i}"))
                elif side == "raw":
                    m.raw.append(raw.provision(f"br{run}-{i}"))
                else:
                    with poller:
                        m.raw_loaded.append(raw.provision(f"bl{run}-{i}"))
            log(
                f"  {i + 1:>3}/{n}: berth {m.berth[-1].total * 1000:6.0f} ms   "
                f"raw {m.raw[-1].total * 1000:6.0f} ms   "
                f"raw+poll load {m.raw_loaded[-1].total * 1000:6.0f} ms"
            )
            if i == 0:
                m.spec_diffs = spec_differences(raw.api, m.berth[0].slug, m.raw[0].slug)
            # Every iteration starts from the same host: running containers cost CPU
            # (the image's HEALTHCHECK execs every 2 s), so they must not pile up.
            berth_delete_all(client, [m.berth[-1].slug])
            raw.cleanup()
    finally:
        poller.close()
    berth_delete_all(client, [m.cold["berth"].slug])
    return m


def run(cfg: RunConfig, log: Log = print) -> list[Row]:
    n = FULL_SAMPLES if cfg.full else QUICK_SAMPLES
    with berth_stack("bench") as bs, DockerEvents(bs.instance) as events:
        holder: list[RawDocker] = []
        try:
            m = _measure(bs, holder, n, log)
            attach_berth_marks(m.berth, events, celery_task_times([w.log_path for w in bs.workers]))
            attach_raw_marks(m.raw, events)
            attach_raw_marks(m.raw_loaded, events)
        finally:
            for raw in holder:
                raw.close()
    return rows(m)


def _fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def rows(m: Measurement) -> list[Row]:
    n = len(m.berth)
    b_ms = [s.total * 1000 for s in m.berth]
    r_ms = [s.total * 1000 for s in m.raw]
    l_ms = [s.total * 1000 for s in m.raw_loaded]
    same = (
        "identical container spec (checked)"
        if not m.spec_diffs
        else "SPEC DIFFERS in " + ", ".join(m.spec_diffs)
    )
    poll = f"{CLIENT_POLL * 1000:g} ms"
    out = [
        Row(
            NAME,
            "p50 API call → healthy",
            percentile(b_ms, 50),
            percentile(r_ms, 50),
            "ms",
            max_ratio=TARGET,
            samples=n,
            note=(
                f"{n} tenants one at a time, interleaved with raw SDK create+start+health "
                f"of the same spec; Berth's state read with a long-poll (wait_for=running); {same}"
            ),
        ),
        Row(
            NAME,
            "p95 API call → healthy",
            percentile(b_ms, 95),
            percentile(r_ms, 95),
            "ms",
            samples=n,
        ),
        Row(
            NAME,
            "p50 vs raw under the same API polling",
            percentile(b_ms, 50),
            percentile(l_ms, 50),
            "ms",
            samples=n,
            note=(
                f"baseline: raw provision while GET /tenants/{{slug}} runs every {poll}, "
                "the load the Berth measurement itself puts on the host"
            ),
        ),
        Row(
            NAME,
            "p95 vs raw under the same API polling",
            percentile(b_ms, 95),
            percentile(l_ms, 95),
            "ms",
            samples=n,
        ),
        Row(
            NAME,
            "cold first provision",
            m.cold["berth"].total * 1000,
            m.cold["raw"].total * 1000,
            "ms",
            samples=1,
            note="the unmeasured warm-up (Berth's creates the tenants network)",
        ),
    ]
    berth, raws = m.berth, m.raw
    phases: list[tuple[str, float | None, float | None, str]] = [
        (
            "p50 phase: call → container created",
            phase_ms(berth, "call", "create"),
            phase_ms(raws, "call", "create"),
            "engine 'create' event; Berth: POST, queue, worker pre-work, volume, create",
        ),
        (
            "p50 phase: created → started",
            phase_ms(berth, "create", "start"),
            phase_ms(raws, "create", "start"),
            "engine 'create' → 'start' events; raw under the same API polling: "
            + _fmt_ms(phase_ms(m.raw_loaded, "create", "start")),
        ),
        (
            "p50 phase: started → healthy",
            phase_ms(berth, "start", "observed"),
            phase_ms(raws, "start", "healthy"),
            "Berth: until the API client sees state running",
        ),
        (
            "p50 Berth: POST /tenants round-trip",
            phase_ms(berth, "call", "posted"),
            None,
            "",
        ),
        (
            "p50 Berth: call → task received",
            phase_ms(berth, "call", "received"),
            None,
            "Celery worker log timestamps (ms resolution); the task is sent before the 202",
        ),
        (
            "p50 Berth: task received → container created",
            phase_ms(berth, "received", "create"),
            None,
            "lock, snapshot, list, state write, volume, create",
        ),
        (
            "p50 Berth: started → task succeeded",
            phase_ms(berth, "start", "succeeded"),
            None,
            "inspect, health client + polling, state write, ack",
        ),
        (
            "p50 Berth: task succeeded → running seen",
            phase_ms(berth, "succeeded", "observed"),
            None,
            "long-poll wake-up via PostgreSQL NOTIFY",
        ),
    ]
    for metric, b, r, note in phases:
        if b is not None:
            out.append(Row(NAME, metric, b, r, "ms", samples=n, note=note, detail=True))
    return out


BENCHMARK = Benchmark(
    name=NAME,
    summary="provisioning latency, API call → healthy, sequential signups",
    run=run,
)
