"""`rollout`: a blueprint rollout over a fleet, against the ideal ⌈N/C⌉ × one replace.

A real Berth (uvicorn API + Celery worker) on a fresh stack. N tenants are signed up
on blueprint version 1 with small limits (32 MB, 0.1 CPU) and waited for with the
long-poll GET /tenants/{slug}?wait_for=running. Then, all in the same run:

1. One tenant's replace time: a rollout of one tenant to version 2 (max_parallel 1),
   rolled back after each try, three tries on three tenants; the median of the
   targets' finished_at - started_at (the driver's own per-tenant timestamps).
2. The fleet rollout: POST /blueprints/2/deploy with max_parallel C = 10 and a
   one-tenant canary over all N tenants. Its wall time is the API's
   started_at → finished_at (duration_seconds), and, client side, POST → state
   "completed" seen by polling GET /rollouts/{id} every POLL seconds.
   Ideal: ⌈N/C⌉ × the one-tenant replace. The canary wave runs alone before the rest,
   so the rollout's own floor is (1 + ⌈(N-1)/C⌉) replaces; both ratios are reported.
3. The speedup of max_parallel C over max_parallel 1: quick mode rolls a 10-tenant
   subset at max_parallel C and the next 10 at 1; full mode rolls the whole fleet at
   max_parallel 1 and compares it with step 2. The max_parallel=1 run goes last, so it
   needs no (sequential) rollback.

4. A raw engine baseline, after Berth's stack is gone: N containers of the same spec
   swapped blue/green with DockerBackend calls in threads (canary alone, then C at a
   time) and no control plane. On a small host the engine does not start C containers
   in the time of one, so this shows what the hardware allows at parallelism C.

Every rollout but the last is rolled back (POST /rollouts/{id}/rollback, waited for)
so each one starts from version 1. Per-target phases come from the engine's events
(the new container's create/start, the old one's kill/destroy) on the same host
clock as the driver's timestamps. A rollout runs inside one worker task, with
asyncio concurrency max_parallel, so the worker's Celery concurrency is no limit.
"""

from __future__ import annotations

import math
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import docker
import docker.utils
import httpx

from bench.harness import Benchmark, Row, RunConfig, percentile
from bench.leftovers import leftovers, remove_all
from bench.stack import BenchStack, EngineEventStream, berth_stack, event_fields, track
from controlplane.settings import Settings
from provisioner.runtime.base import ContainerInfo
from provisioner.runtime.docker import DockerBackend
from provisioner.spec import TenantSpecInput, build_spec, container_names

NAME = "rollout"
QUICK_FLEET = 20
FULL_FLEET = 100
QUICK_SUBSET = 10  # quick mode's max_parallel=1 vs C comparison
PARALLEL = 10
CANARY = 1
SINGLE_TRIES = 3
TARGET = 1.3
FROM_VERSION = "1"
TO_VERSION = "2"
LIMITS = {"memory_mb": 32, "cpu": 0.1}
WORKER_CONCURRENCY = 8
POLL = 0.1  # how often the client asks for the rollout's state
CREATE_TIMEOUT = 600.0
ROLLOUT_TIMEOUT = 900.0

Log = Callable[[str], None]


def _ts(value: str | None) -> float | None:
    return None if value is None else datetime.fromisoformat(value).timestamp()


# --- engine events ----------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    at: float  # wall clock (engine timeNano)
    action: str
    tenant: str
    container: str  # name (blue/green colours reuse names)
    id: str


class EventLog(EngineEventStream):
    """Every container event of the stack's instance, in arrival order."""

    thread_name = "bench-rollout-events"

    def __init__(self, instance: str) -> None:
        super().__init__(instance)
        self.events: list[Event] = []

    def record(self, event: dict[str, Any]) -> None:
        name, action, at = event_fields(event)
        attrs = (event.get("Actor") or {}).get("Attributes") or {}
        tenant = attrs.get("berth.tenant")
        cid = str(event.get("id") or (event.get("Actor") or {}).get("ID") or "")
        if tenant and name and at and action:
            self.events.append(Event(at, action, tenant, name, cid))

    def summary(self) -> str:
        """Crashes the engine saw: OOM kills and containers started more than once."""
        with self._lock:
            events = list(self.events)
        starts: dict[str, int] = {}
        for e in events:
            if e.action == "start":
                starts[e.id] = starts.get(e.id, 0) + 1
        ooms = sum(1 for e in events if e.action == "oom")
        restarted = sum(1 for count in starts.values() if count > 1)
        return f"{ooms} OOM kills, {restarted} container(s) started more than once"

    def window(self, tenant: str, lo: float, hi: float) -> list[Event]:
        with self._lock:
            return [e for e in self.events if e.tenant == tenant and lo <= e.at <= hi]


PHASES = (
    ("target started → new container created", "started", "create"),
    ("created → started", "create", "start"),
    ("started → old container killed (health wait)", "start", "kill"),
    ("old killed → destroyed", "kill", "destroy"),
    ("old destroyed → target finished", "destroy", "finished"),
)


def target_marks(t: dict[str, Any], events: EventLog) -> dict[str, float]:
    """Wall-clock marks of one target's replace (missing marks are left out)."""
    started, finished = _ts(t.get("started_at")), _ts(t.get("finished_at"))
    if started is None or finished is None:
        return {}
    marks = {"started": started, "finished": finished}
    # Docker events can land a few ms off the driver's timestamps.
    evs = events.window(t["slug"], started - 0.05, finished + 0.05)
    new = next((e.container for e in evs if e.action == "create"), None)
    for e in evs:
        if e.action in ("create", "start") and e.container == new:
            marks.setdefault(e.action, e.at)
        elif e.action in ("kill", "destroy") and e.container != new:
            marks.setdefault(e.action, e.at)
    return marks


# --- the API ------------------------------------------------------------------------------


@dataclass
class RolloutRun:
    """One finished rollout as the API reports it, plus the client's own time."""

    body: dict[str, Any]
    client_seconds: float  # POST → state completed seen

    @property
    def id(self) -> str:
        return str(self.body["id"])

    @property
    def api_seconds(self) -> float:
        return float(self.body["duration_seconds"])

    @property
    def pickup_seconds(self) -> float:
        """created_at → started_at: the API's commit, the queue and the driver's start."""
        created, started = _ts(self.body["created_at"]), _ts(self.body["started_at"])
        assert created is not None and started is not None
        return started - created

    @property
    def targets(self) -> list[dict[str, Any]]:
        return list(self.body.get("targets") or [])

    def target_seconds(self) -> list[float]:
        out = []
        for t in self.targets:
            a, b = _ts(t.get("started_at")), _ts(t.get("finished_at"))
            if a is not None and b is not None:
                out.append(b - a)
        return out


def _get(client: httpx.Client, path: str, **params: Any) -> Any:
    r = client.get(path, params=params)
    if r.status_code != 200:
        raise RuntimeError(f"GET {path}: {r.status_code} {r.text[:300]}")
    return r.json()


def _wait_rollout(client: httpx.Client, rollout_id: str, t0: float, what: str) -> RolloutRun:
    tick = time.perf_counter()
    while True:
        # The newest rollout, without its targets: a cheap poll (only one rollout is
        # active at a time, and the one waited for is the newest).
        newest: list[dict[str, Any]] = _get(client, "/rollouts", limit=1)
        now = time.perf_counter()
        body = next((b for b in newest if b["id"] == rollout_id), None)
        if body is None:
            body = _get(client, f"/rollouts/{rollout_id}")
        if body["state"] == "completed":
            if body["counts"].get("failed") or body["counts"].get("pending"):
                raise RuntimeError(f"{what} completed with {body['counts']}")
            full: dict[str, Any] = _get(client, f"/rollouts/{rollout_id}")
            return RolloutRun(body=full, client_seconds=now - t0)
        if body["state"] == "halted":
            raise RuntimeError(f"{what} halted: {body.get('reason')}")
        if now - t0 > ROLLOUT_TIMEOUT:
            raise RuntimeError(f"{what} not finished after {ROLLOUT_TIMEOUT:g}s: {body['counts']}")
        tick += POLL
        delay = tick - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        else:
            tick = time.perf_counter()


def deploy(client: httpx.Client, slugs: Sequence[str], max_parallel: int) -> RolloutRun:
    body = {
        "max_parallel": max_parallel,
        "canary": CANARY,
        "max_failures": 0,
        "selector": {"slugs": list(slugs)},
    }
    t0 = time.perf_counter()
    r = client.post(f"/blueprints/{TO_VERSION}/deploy", json=body)
    if r.status_code != 202:
        raise RuntimeError(f"POST /blueprints/{TO_VERSION}/deploy: {r.status_code} {r.text[:300]}")
    run = _wait_rollout(client, str(r.json()["id"]), t0, f"deploy of {len(slugs)}")
    if run.body["counts"].get("done") != len(slugs):
        raise RuntimeError(f"deploy of {len(slugs)} upgraded {run.body['counts']}")
    return run


def roll_back(client: httpx.Client, run: RolloutRun) -> RolloutRun:
    t0 = time.perf_counter()
    r = client.post(f"/rollouts/{run.id}/rollback")
    if r.status_code != 202:
        raise RuntimeError(f"POST /rollouts/{run.id}/rollback: {r.status_code} {r.text[:300]}")
    back = _wait_rollout(client, str(r.json()["id"]), t0, f"rollback of {run.id}")
    if back.body["counts"].get("done") != run.body["counts"].get("done"):
        raise RuntimeError(f"rollback of {run.id} returned {back.body['counts']}")
    return back


def create_fleet(client: httpx.Client, n: int, log: Log) -> tuple[list[str], float]:
    run = uuid.uuid4().hex[:6]
    slugs = [f"ro{run}-{i:03d}" for i in range(n)]
    t0 = time.monotonic()
    for slug in slugs:
        r = client.post(
            "/tenants", json={"slug": slug, "blueprint_version": FROM_VERSION, "limits": LIMITS}
        )
        if r.status_code != 202:
            raise RuntimeError(f"POST /tenants {slug}: {r.status_code} {r.text[:300]}")
    for i, slug in enumerate(slugs):
        while True:
            r = client.get(f"/tenants/{slug}", params={"wait_for": "running", "timeout": 60})
            body: dict[str, Any] = r.json() if r.status_code == 200 else {}
            if body.get("state") == "running":
                break
            if body.get("state") == "failed":
                raise RuntimeError(f"{slug} failed: {body.get('state_reason')}")
            if time.monotonic() - t0 > CREATE_TIMEOUT:
                raise RuntimeError(f"{slug} not running after {CREATE_TIMEOUT:g}s: {r.text[:300]}")
        if (i + 1) % 25 == 0 and i + 1 < n:
            log(f"  {i + 1}/{n} running after {time.monotonic() - t0:.0f}s")
    return slugs, time.monotonic() - t0


# --- raw engine baseline ------------------------------------------------------------------


class RawFleet:
    """The same blue/green swaps with no control plane: DockerBackend calls in threads.

    Each swap is what the driver does for one tenant minus PostgreSQL, locks, Redis and
    the queue: ensure the other colour (volume, create, start, inspect) with the same
    spec, poll its health path every settings.health_poll_interval, remove the old one.
    Its own instance label and network; removed by close().
    """

    def __init__(self, settings: Settings, blueprints: dict[str, dict[str, Any]], pids: int):
        self.settings = settings
        self.blueprints = blueprints
        self.pids = pids
        self.instance = track(f"bt-{uuid.uuid4().hex[:6]}-brolraw")
        self.network = f"berth-{self.instance}"
        self.backend = DockerBackend(network=self.network)
        self.http = httpx.Client(timeout=1.0, trust_env=False)
        self.current: dict[int, ContainerInfo] = {}

    def _input(self, i: int, version: str) -> TenantSpecInput:
        s, bp = self.settings, self.blueprints[version]
        return TenantSpecInput(
            tenant_id=str(uuid.UUID(int=i + 1)),
            slug=f"rr{self.instance[3:9]}-{i:03d}",
            generation=1,
            blueprint_version=version,
            image=str(bp["image"]),
            port=int(bp["port"]),
            user=str(bp["user"]),
            cpu=float(LIMITS["cpu"]),
            memory_mb=int(LIMITS["memory_mb"]),
            pids=self.pids,
            blueprint_env=dict(bp["default_env"]),
            tenant_env={},
            secrets={},
            domain=s.domain,
            network=self.network,
            instance=self.instance,
            entrypoints=s.traefik_entrypoints,
            middlewares=s.traefik_middlewares,
        )

    def _healthy(self, info: ContainerInfo, version: str) -> None:
        bp = self.blueprints[version]
        deadline = time.monotonic() + self.settings.provision_timeout
        while True:
            if info.ip is None:
                info = self.backend.inspect(info.id) or info
            elif _answers(self.http, f"http://{info.ip}:{bp['port']}{bp['health_path']}"):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"raw {info.name} not healthy in time")
            time.sleep(self.settings.health_poll_interval)

    def up(self, i: int) -> None:
        inp = self._input(i, FROM_VERSION)
        info = self.backend.ensure(build_spec(inp, name=container_names(inp.slug)[0]))
        self._healthy(info, FROM_VERSION)
        self.current[i] = info

    def swap(self, i: int, into: list[dict[str, Any]] | None = None) -> float:
        """Replace tenant i's container by one of the other version; seconds taken.

        `into` gets a target-like record (slug, started_at, finished_at) for phases.
        """
        old = self.current[i]
        wall0, t0 = time.time(), time.perf_counter()
        version = TO_VERSION if old.labels.get("berth.blueprint") == FROM_VERSION else FROM_VERSION
        inp = self._input(i, version)
        blue, green = container_names(inp.slug)
        info = self.backend.ensure(build_spec(inp, name=green if old.name == blue else blue))
        self._healthy(info, version)
        self.backend.remove(old.id)
        self.current[i] = info
        took = time.perf_counter() - t0
        if into is not None:
            into.append(
                {
                    "slug": inp.slug,
                    "started_at": datetime.fromtimestamp(wall0, UTC).isoformat(),
                    "finished_at": datetime.fromtimestamp(wall0 + took, UTC).isoformat(),
                }
            )
        return took

    def roll(
        self, indices: Sequence[int], parallel: int, into: list[dict[str, Any]]
    ) -> tuple[float, list[float]]:
        """Canary first, alone, then the rest `parallel` at a time, as the driver does."""
        t0 = time.perf_counter()
        per = [self.swap(i, into) for i in indices[:CANARY]]
        with ThreadPoolExecutor(parallel) as pool:
            per += list(pool.map(lambda i: self.swap(i, into), indices[CANARY:]))
        return time.perf_counter() - t0, per

    def close(self, log: Log) -> list[str]:
        """Remove every object of the raw fleet; the networks the engine refuses."""
        self.http.close()
        try:
            remove_all(self.instance)
            stuck = remove_networks(self.instance, log)
        finally:
            self.backend.api.close()
        _check_clean(self.instance, stuck)
        return stuck


def _answers(http: httpx.Client, url: str) -> bool:
    try:
        return http.get(url).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class RawMeasurement:
    singles: list[float] = field(default_factory=list)
    fleet_seconds: float = 0.0
    fleet_per: list[float] = field(default_factory=list)
    stuck_networks: list[str] = field(default_factory=list)
    phases: dict[str, dict[str, list[float]]] = field(default_factory=dict)


def measure_raw(
    settings: Settings, blueprints: dict[str, dict[str, Any]], pids: int, n: int, log: Log
) -> RawMeasurement:
    raw = RawFleet(settings, blueprints, pids)
    out = RawMeasurement()
    singles: list[dict[str, Any]] = []
    fleet: list[dict[str, Any]] = []
    try:
        with EventLog(raw.instance) as events:
            with ThreadPoolExecutor(WORKER_CONCURRENCY) as pool:
                list(pool.map(raw.up, range(n)))
            for i in range(SINGLE_TRIES):
                out.singles.append(raw.swap(i, singles))
                raw.swap(i)  # back to FROM_VERSION, like the rollback
            out.fleet_seconds, out.fleet_per = raw.roll(range(n), PARALLEL, fleet)
            out.phases = {"single": _phases(singles, events), "big": _phases(fleet, events)}
        log(
            f"  raw engine: one swap {statistics.median(out.singles):.2f}s, {n} swaps at "
            f"{PARALLEL} at a time {out.fleet_seconds:.1f}s"
        )
    finally:
        out.stuck_networks = raw.close(log)
    return out


# --- the benchmark ------------------------------------------------------------------------


@dataclass
class Measurement:
    fleet: int = 0
    create_seconds: float = 0.0
    singles: list[RolloutRun] = field(default_factory=list)
    big: RolloutRun | None = None
    big_back: RolloutRun | None = None
    subset: int = 0
    fast: RolloutRun | None = None  # subset at max_parallel PARALLEL
    slow: RolloutRun | None = None  # subset at max_parallel 1
    phases: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    blueprints: dict[str, dict[str, Any]] = field(default_factory=dict)
    pids: int = 0
    raw: RawMeasurement | None = None
    stuck_networks: list[str] = field(default_factory=list)
    engine: str = ""  # what the engine's events say went wrong, if anything


def _phases(targets: Sequence[dict[str, Any]], events: EventLog) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {label: [] for label, _, _ in PHASES}
    for t in targets:
        marks = target_marks(t, events)
        for label, a, b in PHASES:
            if a in marks and b in marks:
                out[label].append(marks[b] - marks[a])
    return out


def _measure(bs: BenchStack, n: int, full: bool, events: EventLog, log: Log) -> Measurement:
    client = bs.client
    m = Measurement(fleet=n)
    slugs, m.create_seconds = create_fleet(client, n, log)
    log(f"  {n} tenants running on version {FROM_VERSION} after {m.create_seconds:.0f}s")
    m.blueprints = {str(b["version"]): b for b in _get(client, "/blueprints")}
    m.pids = int(_get(client, f"/tenants/{slugs[0]}")["limits"]["pids"])

    for i in range(SINGLE_TRIES):
        one = deploy(client, [slugs[i]], 1)
        m.singles.append(one)
        roll_back(client, one)
        log(
            f"  one-tenant replace {i + 1}/{SINGLE_TRIES}: target "
            f"{one.target_seconds()[0]:.2f}s, rollout {one.api_seconds:.2f}s, "
            f"client {one.client_seconds:.2f}s"
        )

    m.big = deploy(client, slugs, PARALLEL)
    log(
        f"  {n} tenants at max_parallel {PARALLEL}: {m.big.api_seconds:.1f}s "
        f"(client {m.big.client_seconds:.1f}s)"
    )
    m.big_back = roll_back(client, m.big)
    log(f"  rolled back in {m.big_back.api_seconds:.1f}s")

    if full:
        m.subset, m.fast = n, m.big
    else:
        m.subset = min(QUICK_SUBSET, n // 2)
        m.fast = deploy(client, slugs[: m.subset], PARALLEL)
        log(f"  {m.subset} tenants at max_parallel {PARALLEL}: {m.fast.api_seconds:.1f}s")
    # Last: a max_parallel=1 rollout's rollback would be just as sequential. Quick mode
    # rolls the next `subset` tenants (still on the old version) rather than rolling
    # the first ones back for it.
    slow = slugs[: m.subset] if full else slugs[m.subset : 2 * m.subset]
    m.slow = deploy(client, slow, 1)
    log(f"  {m.subset} tenants at max_parallel 1: {m.slow.api_seconds:.1f}s")

    m.phases = {
        "single": _phases([t for s in m.singles for t in s.targets], events),
        "big": _phases(m.big.targets, events),
    }
    m.engine = events.summary()
    log(f"  engine events over all rollouts: {m.engine}")
    return m


def remove_networks(instance: str, log: Log, tries: int = 10) -> list[str]:
    """Remove the instance's networks, retrying; the names the engine still refuses.

    Docker 20.10 sometimes keeps a stale endpoint count on a network after many
    concurrent container removals ("has active endpoints" with no container attached,
    moby/moby#42119); only a daemon restart clears it. That must not throw away a
    finished measurement, so it is reported instead of raised.
    """
    api = docker.APIClient(version="auto", timeout=60, **docker.utils.kwargs_from_env())
    try:
        for attempt in range(tries):
            nets = api.networks(filters={"label": [f"berth.instance={instance}"]})
            for net in nets:
                try:
                    api.remove_network(net["Id"])
                except docker.errors.NotFound:
                    pass
                except docker.errors.APIError as exc:
                    if "active endpoints" not in str(exc):
                        raise
            left = [
                str(net["Name"])
                for net in api.networks(filters={"label": [f"berth.instance={instance}"]})
            ]
            if not left:
                return []
            if attempt < tries - 1:
                time.sleep(1.0)
    finally:
        api.close()
    log(
        f"  WARNING: the engine refuses to remove network(s) {', '.join(left)} "
        "('has active endpoints' with no container attached, moby/moby#42119); "
        "remove after a dockerd restart"
    )
    return left


def _check_clean(instance: str, stuck: Sequence[str]) -> None:
    """check_clean, except for networks the engine is known to be stuck on."""
    left = [x for x in leftovers(instance) if x not in {f"network {n}" for n in stuck}]
    if left:
        raise RuntimeError(f"left behind by {instance}: {', '.join(left)}")


def run(cfg: RunConfig, log: Log = print) -> list[Row]:
    n = FULL_FLEET if cfg.full else QUICK_FLEET
    m: Measurement | None = None
    instance = ""
    try:
        with berth_stack("brol", concurrency=WORKER_CONCURRENCY) as bs:
            instance, settings = bs.instance, bs.stack.settings
            try:
                with EventLog(instance) as events:
                    m = _measure(bs, n, cfg.full, events, log)
            finally:
                # Nothing else is queued once the last rollout completed; on failure
                # the worker may still be at work, and stop_stack's clean-up (after the
                # worker stops) catches what it made since.
                cleanup = remove_all(instance)
                log(f"  containers and volumes removed in {cleanup:.0f}s")
    except docker.errors.APIError as exc:
        # stop_stack's network removal; everything else of the stack is gone by then.
        if m is None or "active endpoints" not in str(exc):
            raise
    m.stuck_networks += remove_networks(instance, log)
    _check_clean(instance, m.stuck_networks)
    # After Berth's fleet is gone, so both sides run beside the same number of
    # containers (each sample container's HEALTHCHECK costs CPU).
    m.raw = measure_raw(settings, m.blueprints, m.pids, n, log)
    m.stuck_networks += m.raw.stuck_networks
    return rows(m)


def _ideal_waves(n: int, c: int) -> int:
    canary = min(CANARY, n)
    return math.ceil(canary / c) + math.ceil((n - canary) / c)


def _p(values: Sequence[float], pct: float) -> str:
    return f"{percentile(values, pct):.2f}s" if values else "n/a"


def rows(m: Measurement) -> list[Row]:
    assert m.big is not None and m.big_back is not None
    assert m.fast is not None and m.slow is not None and m.raw is not None
    n, c = m.fleet, PARALLEL
    singles = [s.target_seconds()[0] for s in m.singles]
    replace = statistics.median(singles)
    waves = math.ceil(n / c)
    canary_waves = _ideal_waves(n, c)
    big_targets = m.big.target_seconds()
    raw_one = statistics.median(m.raw.singles)
    shape = f"{n} tenants, max_parallel {c}, canary {CANARY}"
    one = (
        f"one-tenant replace measured in the same run: median {replace:.2f}s of "
        + ", ".join(f"{s:.2f}" for s in singles)
        + "s"
    )
    speedup = m.slow.api_seconds / m.fast.api_seconds
    ideal_speedup = m.subset / _ideal_waves(m.subset, c)
    which = (
        "the whole fleet both ways (max_parallel 10 run: the fleet rollout above)"
        if m.subset == n
        else f"two {m.subset}-tenant subsets of the {n}, one each way"
    )
    out: list[Row] = [
        Row(
            NAME,
            f"wall time, {n} tenants, max_parallel {c}",
            m.big.api_seconds,
            waves * replace,
            "s",
            max_ratio=TARGET,
            samples=1,
            note=(
                f"{shape}, version {FROM_VERSION} → {TO_VERSION} blue/green; the rollout's "
                f"started_at → finished_at; baseline: ⌈N/C⌉ = {waves} × {one}. The canary "
                f"wave runs alone first, so even a perfect run takes {canary_waves} replaces "
                f"({canary_waves / waves:.2f}× this baseline)"
                + (
                    f"; WARNING: the engine kept network(s) {', '.join(m.stuck_networks)} "
                    "(stale endpoint count, moby/moby#42119)"
                    if m.stuck_networks
                    else ""
                )
            ),
        ),
        Row(
            NAME,
            f"wall time vs canary + ⌈(N-{CANARY})/C⌉ waves, {n} tenants",
            m.big.api_seconds,
            canary_waves * replace,
            "s",
            max_ratio=TARGET,
            samples=1,
            note=(
                f"the same rollout against its own floor: {canary_waves} waves "
                f"(canary {CANARY}, then ⌈{n - CANARY}/{c}⌉) × the one-tenant replace"
            ),
        ),
        Row(
            NAME,
            f"client POST → completed seen, {n} tenants",
            m.big.client_seconds,
            waves * replace,
            "s",
            samples=1,
            note=(
                f"GET /rollouts?limit=1 polled every {POLL * 1000:g} ms; includes the deploy "
                f"request and the driver's pick-up ({m.big.pickup_seconds * 1000:.0f} ms "
                "created_at → started_at)"
            ),
        ),
        Row(
            NAME,
            f"wall time vs raw engine swaps, {n} tenants, {c} at a time",
            m.big.api_seconds,
            m.raw.fleet_seconds,
            "s",
            samples=1,
            note=(
                f"baseline: the same {n} blue/green swaps (canary {CANARY} alone, then {c} "
                "at a time) as DockerBackend calls in threads with no control plane, run "
                "after Berth's stack is gone, beside as many containers; what the engine "
                f"allows here: {m.raw.fleet_seconds / (waves * raw_one):.2f}× its own "
                f"⌈N/C⌉ × one swap ({raw_one:.2f}s)"
            ),
        ),
        Row(
            NAME,
            f"speedup, max_parallel {c} over 1",
            speedup,
            None,
            "×",
            samples=1,
            note=(
                f"{which}: {m.slow.api_seconds:.1f}s at max_parallel 1 vs "
                f"{m.fast.api_seconds:.1f}s at {c} (both canary {CANARY}); ideal "
                f"{ideal_speedup:.1f}× ({m.subset} replaces vs "
                f"{_ideal_waves(m.subset, c)} waves)"
            ),
        ),
        Row(
            NAME,
            "one-tenant replace (median)",
            replace,
            None,
            "s",
            samples=len(singles),
            detail=True,
            note=(
                "target started_at → finished_at of a one-tenant rollout (max_parallel 1), "
                "each rolled back; rollout started → finished: "
                + ", ".join(f"{s.api_seconds:.2f}" for s in m.singles)
                + "s; client POST → completed: "
                + ", ".join(f"{s.client_seconds:.2f}" for s in m.singles)
                + "s"
            ),
        ),
        Row(
            NAME,
            "one-tenant replace vs one raw engine swap (medians)",
            replace,
            raw_one,
            "s",
            samples=len(singles),
            detail=True,
            note="raw: " + ", ".join(f"{s:.2f}" for s in m.raw.singles) + "s",
        ),
        Row(
            NAME,
            f"p50 per-target replace inside the {n}-tenant rollout",
            percentile(big_targets, 50),
            replace,
            "s",
            samples=len(big_targets),
            detail=True,
            note=(
                f"p95 {_p(big_targets, 95)}, max {max(big_targets):.2f}s with {c} at once "
                f"(over the whole run: {m.engine}); "
                "baseline: the one-tenant replace alone; raw engine swaps "
                f"{c} at a time: p50 {_p(m.raw.fleet_per, 50)}, p95 {_p(m.raw.fleet_per, 95)}"
            ),
        ),
        Row(
            NAME,
            f"rollback, {n} tenants, max_parallel {c}",
            m.big_back.api_seconds,
            waves * replace,
            "s",
            samples=1,
            detail=True,
            note="POST /rollouts/{id}/rollback of the fleet rollout, 2 → 1, no canary wave",
        ),
    ]
    if m.subset != n:
        out.append(
            Row(
                NAME,
                f"wall time, {m.subset} tenants, max_parallel {c} vs 1",
                m.fast.api_seconds,
                m.slow.api_seconds,
                "s",
                samples=1,
                detail=True,
                note="the speedup's two rollouts (started_at → finished_at)",
            )
        )
    for key, label in (
        ("single", "one-tenant replace"),
        ("big", f"{n} at max_parallel {c}"),
    ):
        for phase, values in m.phases[key].items():
            raw = m.raw.phases.get(key, {}).get(phase) or []
            if values:
                out.append(
                    Row(
                        NAME,
                        f"p50 phase ({label}): {phase}",
                        percentile(values, 50) * 1000,
                        percentile(raw, 50) * 1000 if raw else None,
                        "ms",
                        samples=len(values),
                        detail=True,
                        note=(
                            f"p95 {percentile(values, 95) * 1000:.0f} ms"
                            + (f" vs raw {percentile(raw, 95) * 1000:.0f} ms" if raw else "")
                            + "; engine events against the driver's target timestamps"
                            + " (raw: the swap's own)"
                        ),
                    )
                )
    return out


BENCHMARK = Benchmark(
    name=NAME,
    summary="blueprint rollout over a fleet vs ⌈N/C⌉ × one tenant's replace",
    run=run,
)
