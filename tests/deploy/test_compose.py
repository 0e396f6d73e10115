"""The production deployment in deploy/ holds together.

Checks that deploy/compose.yml, the Traefik static and dynamic files, prometheus.yml,
Grafana provisioning and the labels Berth writes on tenant containers agree with each
other. No Docker engine is needed. The compose tests run `docker compose config` (or
`docker-compose config`), which only renders and validates the file. The other tests read
the files directly: compose.yml is interpolated here with the variables from
deploy/.env.example plus test secrets, and the Traefik dynamic file is rendered the way
Traefik's file provider renders it (the Go template `env` / `replace` subset it uses).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from controlplane.validation import RESERVED_SLUGS
from provisioner import spec, traefik

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "compose.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
DOCKERFILE = DEPLOY / "Dockerfile"
TRAEFIK_STATIC = DEPLOY / "traefik" / "traefik.yml"
TRAEFIK_DYNAMIC = DEPLOY / "traefik" / "dynamic" / "berth.yml"
PROMETHEUS = DEPLOY / "prometheus.yml"
GRAFANA = DEPLOY / "grafana"

DOMAIN = "example.com"
TENANT_NETWORK = "berth-tenants"
# What an operator must supply on top of .env.example.
SECRETS = {
    "BERTH_DOMAIN": DOMAIN,
    "BERTH_ADMIN_TOKEN": "t" * 40,
    "BERTH_SECRET_KEY": "s" * 40,
    "POSTGRES_PASSWORD": "pg-test-password",
    "REDIS_PASSWORD": "redis-test-password",
    "GRAFANA_ADMIN_PASSWORD": "grafana-test-password",
    "DOCKER_GID": "999",
}
BERTH_PROCESSES = {"migrate", "api", "worker", "beat", "watcher"}
SERVICES = BERTH_PROCESSES | {
    "postgres",
    "redis",
    "socket-proxy",
    "traefik",
    "prometheus",
    "grafana",
}
ONE_SHOT = {"migrate"}
LONG_RUNNING = SERVICES - ONE_SHOT
DOCKER_SOCKET = "/var/run/docker.sock"
# Only the processes that manage tenants hold the real socket; Traefik reads via the proxy.
SOCKET_HOLDERS = {"api", "worker", "watcher", "socket-proxy"}


# --- helpers: compose interpolation, Go-template rendering, file loading ---------------------

_COMPOSE_VAR = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)


class MissingVariable(Exception):
    pass


def _interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err} and $$."""

    def sub(m: re.Match[str]) -> str:
        if m[0] == "$$":
            return "$"
        name, op, arg = m["name"], m["op"], m["arg"]
        current = env.get(name)
        if op and op.startswith(":") and current == "":
            current = None
        if current is not None:
            return current
        if op and op.endswith("?"):
            raise MissingVariable(f"{name}: {arg}")
        return arg if op else ""

    return _COMPOSE_VAR.sub(sub, value)


def _walk(node: Any, fn: Any) -> Any:
    if isinstance(node, str):
        return fn(node)
    if isinstance(node, list):
        return [_walk(item, fn) for item in node]
    if isinstance(node, dict):
        return {key: _walk(value, fn) for key, value in node.items()}
    return node


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    return []


def parse_env_file(path: Path) -> tuple[dict[str, str], set[str]]:
    """KEY=VALUE lines, and the keys only mentioned in comments (`# KEY=`)."""
    values: dict[str, str] = {}
    commented: set[str] = set()
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if m := re.fullmatch(r"#\s*([A-Z][A-Z0-9_]*)=.*", line):
            commented.add(m[1])
        elif line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: not KEY=VALUE: {raw!r}"
            values[key.strip()] = value.strip()
    return values, commented


def operator_env() -> dict[str, str]:
    values, _ = parse_env_file(ENV_EXAMPLE)
    return {**values, **SECRETS}


@cache
def raw_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


@cache
def compose() -> dict[str, Any]:
    """compose.yml as compose sees it with .env.example + SECRETS (anchors merged)."""
    env = operator_env()
    rendered: dict[str, Any] = _walk(raw_compose(), lambda s: _interpolate(s, env))
    return rendered


def service(name: str) -> dict[str, Any]:
    svc: dict[str, Any] = compose()["services"][name]
    return svc


def environment(name: str) -> dict[str, str]:
    return {k: str(v) for k, v in (service(name).get("environment") or {}).items()}


def ports(name: str) -> list[tuple[str, str, str]]:
    """Short-syntax ports as (host_ip, published, target)."""
    out = []
    for entry in service(name).get("ports", []):
        parts = str(entry).split(":")
        assert len(parts) == 3, f"{name}: publish with an explicit host IP: {entry!r}"
        out.append((parts[0], parts[1], parts[2].split("/")[0]))
    return out


def volumes(name: str) -> list[tuple[str, str, str]]:
    """Short-syntax volumes as (source, target, mode)."""
    out = []
    for entry in service(name).get("volumes", []):
        source, target, *mode = str(entry).split(":")
        out.append((source, target, mode[0] if mode else "rw"))
    return out


def flag(argv: list[str], name: str) -> str:
    """The value of `--name value` or `--name=value` in an argv list."""
    for i, arg in enumerate(argv):
        if arg == name:
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{name} not in {argv}")


_GO_TEMPLATE = re.compile(
    r'\{\{\s*env\s+"(?P<var>[A-Z_][A-Z0-9_]*)"\s*'
    r'(?:\|\s*replace\s+"(?P<old>(?:[^"\\]|\\.)*)"\s+"(?P<new>(?:[^"\\]|\\.)*)"\s*)?\}\}'
)


def _go_string(literal: str) -> str:
    value: str = json.loads(f'"{literal}"')
    return value


def render_go_template(text: str, env: Mapping[str, str]) -> str:
    """The subset of Go templates + Sprig the dynamic file uses: env and replace."""

    def sub(m: re.Match[str]) -> str:
        value = env.get(m["var"], "")
        if m["old"] is not None:
            value = value.replace(_go_string(m["old"]), _go_string(m["new"]))
        return value

    out = _GO_TEMPLATE.sub(sub, text)
    assert "{{" not in out and "}}" not in out, "template expression this test cannot render"
    return out


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    return data


@cache
def static() -> dict[str, Any]:
    return load_yaml(TRAEFIK_STATIC)


@cache
def dynamic() -> dict[str, Any]:
    """The dynamic file as Traefik renders it with the environment compose gives Traefik."""
    data = yaml.safe_load(render_go_template(TRAEFIK_DYNAMIC.read_text(), environment("traefik")))
    assert isinstance(data, dict)
    return data


def berth_labels() -> dict[str, str]:
    """The Traefik labels Berth writes, from the settings compose gives the Berth processes."""
    env = environment("worker")
    return traefik.tenant_labels(
        slug="acme",
        domain=env["BERTH_DOMAIN"],
        port=8080,
        network=env["BERTH_TENANT_NETWORK"],
        entrypoints=env["BERTH_TRAEFIK_ENTRYPOINTS"],
        middlewares=env["BERTH_TRAEFIK_MIDDLEWARES"],
    )


def api_address() -> tuple[str, str]:
    argv = service("api")["command"]
    return flag(argv, "--host"), flag(argv, "--port")


def host_regexp(rule: str) -> re.Pattern[str]:
    m = re.fullmatch(r"HostRegexp\(`([^`]*)`\)", rule)
    assert m, f"not a single HostRegexp matcher: {rule}"
    return re.compile(m[1])


# --- the compose tool ------------------------------------------------------------------------


@cache
def compose_tool() -> tuple[str, ...] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=30
        )
        if probe.returncode == 0:
            return (docker, "compose")
    legacy = shutil.which("docker-compose")
    return (legacy,) if legacy else None


def compose_config(env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`compose config` with .env.example as the env file and `env` as the process env."""
    tool = compose_tool()
    if tool is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    # A clean environment, so variables from the developer's shell cannot satisfy a check.
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    argv = [*tool, "--env-file", str(ENV_EXAMPLE), "-p", "berth-test", "-f", str(COMPOSE_FILE)]
    return subprocess.run(
        [*argv, "config"], env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def test_compose_config_accepts_env_example_plus_secrets() -> None:
    result = compose_config(SECRETS)
    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)
    assert set(rendered["services"]) == SERVICES
    # The tool and this file's own interpolation agree.
    for name in ("api", "worker", "traefik"):
        tool_env = {k: str(v) for k, v in rendered["services"][name]["environment"].items()}
        assert tool_env == environment(name), name
    for name in SERVICES:
        assert rendered["services"][name].get("network_mode") == service(name).get(
            "network_mode"
        ), name


def test_compose_config_refuses_the_bare_env_example() -> None:
    result = compose_config({})
    assert result.returncode != 0


def test_compose_config_names_each_missing_secret() -> None:
    # One compose run per secret, in parallel (each run is a fresh process of ~0.5 s).
    def without(missing: str) -> subprocess.CompletedProcess[str]:
        return compose_config({k: v for k, v in SECRETS.items() if k != missing})

    with ThreadPoolExecutor(max_workers=len(SECRETS)) as pool:
        results = dict(zip(SECRETS, pool.map(without, SECRETS), strict=True))
    for missing, result in results.items():
        assert result.returncode != 0, f"compose accepted a config without {missing}"
        assert missing in result.stderr + result.stdout, result.stderr


def test_env_example_documents_every_variable() -> None:
    values, commented = parse_env_file(ENV_EXAMPLE)
    used: dict[str, tuple[str | None, str | None]] = {}
    ops: dict[str, set[str | None]] = {}
    for text in _strings(raw_compose()):
        for m in _COMPOSE_VAR.finditer(text):
            if m["name"]:
                used[m["name"]] = (m["op"], m["arg"])
                ops.setdefault(m["name"], set()).add(m["op"])
    required = {name for name, (op, _) in used.items() if op and op.endswith("?")}
    assert required == set(SECRETS), "SECRETS in this test must list the required variables"
    for name in required:
        assert ops[name] == {":?"}, f"every use of {name} must be ${{{name}:?...}}"
    for name, (op, default) in used.items():
        assert name in values or name in commented, f"{name} is not in .env.example"
        if name in required:
            assert values.get(name) == "", f"{name} is a secret: leave it empty in .env.example"
        elif op and op.endswith("-"):
            assert values.get(name) == default, f".env.example and compose disagree on {name}"


# --- tenant labels <-> Traefik <-> compose ----------------------------------------------------


def test_berth_processes_share_the_tenant_routing_settings() -> None:
    keys = (
        "BERTH_DOMAIN",
        "BERTH_TENANT_NETWORK",
        "BERTH_TRAEFIK_ENTRYPOINTS",
        "BERTH_TRAEFIK_MIDDLEWARES",
    )
    seen = {name: tuple(environment(name).get(k) for k in keys) for name in BERTH_PROCESSES}
    assert len(set(seen.values())) == 1, seen
    env = environment("api")
    assert env["BERTH_ENV"] == "prod"
    assert env["BERTH_TENANT_NETWORK"] == TENANT_NETWORK
    assert env["BERTH_TRAEFIK_ENTRYPOINTS"] == "websecure"
    assert env["BERTH_TRAEFIK_MIDDLEWARES"] == "berth-gate@file"
    assert env["BERTH_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert env["BERTH_REDIS_URL"].startswith("redis://")
    assert berth_labels() == traefik.tenant_labels(
        slug="acme",
        domain="example.com",
        port=8080,
        network="berth-tenants",
        entrypoints="websecure",
        middlewares="berth-gate@file",
    )


def test_label_entrypoints_exist_in_traefik() -> None:
    labels = berth_labels()
    entrypoints = labels["traefik.http.routers.berth-acme.entrypoints"].split(",")
    assert set(entrypoints) <= set(static()["entryPoints"])
    # Tenant routers set no TLS label: the entrypoint turns TLS on for them.
    for ep in entrypoints:
        assert "tls" in static()["entryPoints"][ep].get("http", {}), ep


def test_label_middlewares_exist_in_the_dynamic_file() -> None:
    middlewares = berth_labels()["traefik.http.routers.berth-acme.middlewares"].split(",")
    defined = dynamic()["http"]["middlewares"]
    for ref in middlewares:
        name, _, provider = ref.partition("@")
        assert provider == "file", f"{ref}: defined in the file provider, so @file"
        assert name in defined, ref


def test_label_network_is_traefiks_provider_network() -> None:
    assert berth_labels()["traefik.docker.network"] == TENANT_NETWORK
    assert static()["providers"]["docker"]["network"] == TENANT_NETWORK


def test_berth_containers_pass_the_docker_provider_constraint() -> None:
    constraint = static()["providers"]["docker"]["constraints"]
    m = re.fullmatch(r"Label\(`([^`]+)`,\s*`([^`]+)`\)", constraint)
    assert m, constraint
    assert spec.instance_labels("default").get(m[1]) == m[2]


def test_docker_provider_exposes_nothing_by_default() -> None:
    assert static()["providers"]["docker"]["exposedByDefault"] is False
    assert berth_labels()["traefik.enable"] == "true"


def test_edge_and_health_checks_run_on_the_host_network() -> None:
    # The tenants network has enable_icc=false: a container attached to it cannot reach
    # another one on it, Traefik included. Only the host's stack reaches tenant IPs.
    for name in ("traefik", "worker", "api"):
        assert service(name).get("network_mode") == "host", name
    for name in SERVICES:
        assert TENANT_NETWORK not in (service(name).get("networks") or []), name
    declared = compose().get("networks") or {}
    assert all((net or {}).get("name", key) != TENANT_NETWORK for key, net in declared.items())


def test_postgres_and_redis_are_off_the_tenants_network() -> None:
    networks = compose()["networks"]
    for name in ("postgres", "redis"):
        svc = service(name)
        assert svc.get("network_mode") is None, name
        attached = [networks[key].get("name", key) for key in svc["networks"]]
        assert attached and TENANT_NETWORK not in attached, name


def test_published_ports_are_loopback_only() -> None:
    for name in SERVICES:
        for host_ip, _, _ in ports(name):
            assert host_ip == "127.0.0.1", name


def test_host_network_listeners_are_loopback_except_web_and_websecure() -> None:
    # Tenants reach every host address listening on 0.0.0.0 through their bridge gateway.
    host, _ = api_address()
    assert host == "127.0.0.1"
    prometheus_listen = flag(service("prometheus")["command"], "--web.listen-address")
    assert prometheus_listen.startswith("127.0.0.1:")
    assert environment("grafana")["GF_SERVER_HTTP_ADDR"] == "127.0.0.1"
    for name, ep in static()["entryPoints"].items():
        if name not in ("web", "websecure"):
            assert ep["address"].startswith("127.0.0.1:"), name
    for name in SERVICES:
        if service(name).get("network_mode") == "host":
            assert not service(name).get("ports"), f"{name}: host network, nothing to publish"


def test_traefik_reads_docker_only_through_the_socket_proxy() -> None:
    endpoint = static()["providers"]["docker"]["endpoint"]
    published = [f"tcp://{ip}:{port}" for ip, port, target in ports("socket-proxy")]
    assert endpoint in published
    proxy_env = environment("socket-proxy")
    assert proxy_env["CONTAINERS"] == "1"
    assert proxy_env["NETWORKS"] == "1"
    assert proxy_env["POST"] == "0"
    for scope in ("EXEC", "IMAGES", "VOLUMES", "SECRETS", "BUILD", "SYSTEM"):
        assert proxy_env.get(scope, "0") == "0", scope
    holders = {name for name in SERVICES if any(t == DOCKER_SOCKET for _, t, _ in volumes(name))}
    assert holders == SOCKET_HOLDERS
    assert [m for _, t, m in volumes("socket-proxy") if t == DOCKER_SOCKET] == ["ro"]


def test_socket_holders_can_use_the_socket_as_non_root() -> None:
    for name in SOCKET_HOLDERS - {"socket-proxy"}:
        assert service(name)["group_add"] == [SECRETS["DOCKER_GID"]], name
    user = re.findall(r"^USER\s+(\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    assert user and user[-1].split(":")[0] not in ("root", "0")


def test_dashboard_off_ping_and_metrics_on() -> None:
    api = static().get("api") or {}
    assert api.get("dashboard") is False
    assert not api.get("insecure")
    entrypoints = static()["entryPoints"]
    assert static()["ping"]["entryPoint"] in entrypoints
    assert static()["metrics"]["prometheus"]["entryPoint"] in entrypoints
    test = service("traefik")["healthcheck"]["test"]
    assert "healthcheck" in test and "--ping" in test


def test_web_redirects_to_websecure() -> None:
    redirect = static()["entryPoints"]["web"]["http"]["redirections"]["entryPoint"]
    assert redirect["to"] == "websecure"
    assert redirect["scheme"] == "https"


def test_gate_middleware_asks_the_api() -> None:
    host, port = api_address()
    auth = dynamic()["http"]["middlewares"]["berth-gate"]["forwardAuth"]
    assert auth["address"] == f"http://{host}:{port}/edge/gate"
    assert auth["trustForwardHeader"] is True
    assert not auth.get("authResponseHeaders")
    assert not auth.get("authResponseHeadersRegex")


def test_waker_is_the_lowest_priority_fallback_to_the_api() -> None:
    routers = dynamic()["http"]["routers"]
    waker = routers["berth-waker"]
    # Traefik's default priority is the length of the rule.
    priorities = {name: r.get("priority", len(r["rule"])) for name, r in routers.items()}
    tenant_rule = berth_labels()["traefik.http.routers.berth-acme.rule"]
    assert waker["priority"] == 1
    assert waker["priority"] == min(priorities.values())
    assert waker["priority"] < len(tenant_rule)
    assert set(waker["entryPoints"]) <= set(static()["entryPoints"])
    assert set(berth_labels()["traefik.http.routers.berth-acme.entrypoints"].split(",")) <= set(
        waker["entryPoints"]
    )
    host, port = api_address()
    servers = dynamic()["http"]["services"][waker["service"]]["loadBalancer"]["servers"]
    assert [s["url"] for s in servers] == [f"http://{host}:{port}"]


def test_waker_prefix_lands_on_the_api_waker_route() -> None:
    from controlplane.edge.endpoints import router

    waker = dynamic()["http"]["routers"]["berth-waker"]
    (name,) = waker["middlewares"]
    prefix = dynamic()["http"]["middlewares"][name]["addPrefix"]["prefix"]
    paths = {getattr(r, "path", "") for r in router.routes}
    assert f"{prefix}/{{path:path}}" in paths


@pytest.mark.parametrize(
    ("host", "matches"),
    [
        (f"acme.{DOMAIN}", True),
        (f"a-1.{DOMAIN}", True),
        (DOMAIN, False),
        (f"a.b.{DOMAIN}", False),
        ("acme.exampleXcom", False),
        (f"acme.{DOMAIN}.evil.net", False),
    ],
)
def test_waker_rule_matches_one_subdomain_label(host: str, matches: bool) -> None:
    rule = dynamic()["http"]["routers"]["berth-waker"]["rule"]
    assert bool(host_regexp(rule).search(host)) is matches


def test_waker_router_requests_the_wildcard_certificate() -> None:
    tls = dynamic()["http"]["routers"]["berth-waker"]["tls"]
    assert tls["domains"] == [{"main": DOMAIN, "sans": [f"*.{DOMAIN}"]}]


def test_api_router_uses_a_reserved_name_and_hides_the_gate() -> None:
    router = dynamic()["http"]["routers"]["berth-api"]
    assert f"Host(`api.{DOMAIN}`)" in router["rule"]
    assert "!PathPrefix(`/edge/`)" in router["rule"]
    assert "api" in RESERVED_SLUGS  # no tenant can be called "api"
    assert router["service"] == dynamic()["http"]["routers"]["berth-waker"]["service"]


def test_dynamic_file_reads_only_variables_traefik_is_given() -> None:
    text = TRAEFIK_DYNAMIC.read_text()
    names = {m["var"] for m in _GO_TEMPLATE.finditer(text)}
    assert names == {"BERTH_DOMAIN"}
    assert environment("traefik")["BERTH_DOMAIN"] == environment("api")["BERTH_DOMAIN"]
    mounts = {target: source for source, target, _ in volumes("traefik")}
    assert mounts["/etc/traefik/dynamic"] == "./traefik/dynamic"
    assert static()["providers"]["file"]["directory"] == "/etc/traefik/dynamic"
    assert mounts["/etc/traefik/traefik.yml"] == "./traefik/traefik.yml"


# --- service hygiene -------------------------------------------------------------------------


def test_long_running_services_have_a_healthcheck_and_a_restart_policy() -> None:
    for name in LONG_RUNNING:
        check = service(name).get("healthcheck") or {}
        assert check.get("test") and check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert not check.get("disable"), name
        assert service(name).get("restart") == "unless-stopped", name
    assert service("migrate")["restart"] == "no"


def test_berth_processes_wait_for_migrations() -> None:
    assert service("migrate")["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in BERTH_PROCESSES - ONE_SHOT:
        condition = service(name)["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name


def test_berth_processes_run_the_documented_commands_from_one_image() -> None:
    assert len({service(name)["image"] for name in BERTH_PROCESSES}) == 1
    assert service("migrate")["command"] == ["berth", "migrate"]
    assert service("watcher")["command"] == ["python", "-m", "provisioner.watcher"]
    assert service("api")["command"][:2] == ["uvicorn", "controlplane.asgi:app"]
    worker = service("worker")["command"]
    assert worker[:4] == ["celery", "-A", "provisioner.tasks", "worker"]
    for arg in ("--without-gossip", "--without-mingle", "--without-heartbeat"):
        assert arg in worker
    assert flag(worker, "-P") == "threads"
    assert flag(worker, "-Q") == "berth"
    beat = service("beat")["command"]
    assert beat[:4] == ["celery", "-A", "provisioner.tasks", "beat"]
    schedule = flag(beat, "--schedule")
    assert any(schedule.startswith(t + "/") for _, t, _ in volumes("beat")), "schedule persists"
    dockerfile = DOCKERFILE.read_text()
    assert re.search(
        r'^CMD \["uvicorn", "controlplane.asgi:app", "--host", "0.0.0.0", "--port", "8000"\]',
        dockerfile,
        re.MULTILINE,
    )


def test_secrets_go_only_to_the_processes_that_need_them() -> None:
    for name in BERTH_PROCESSES:
        env = environment(name)
        assert ("BERTH_ADMIN_TOKEN" in env) is (name == "api"), name
        assert ("BERTH_SECRET_KEY" in env) is (name in {"api", "worker", "watcher"}), name


# --- observability ---------------------------------------------------------------------------


def test_prometheus_scrapes_the_api_with_a_token_file_and_traefik() -> None:
    jobs = {job["job_name"]: job for job in load_yaml(PROMETHEUS)["scrape_configs"]}
    host, port = api_address()
    api = jobs["berth-api"]
    assert api["static_configs"][0]["targets"] == [f"{host}:{port}"]
    assert api.get("metrics_path", "/metrics") == "/metrics"
    assert api["authorization"]["type"] == "Bearer"
    token_file = api["authorization"]["credentials_file"]
    assert token_file == "/etc/prometheus/berth-token"
    assert token_file in {t for _, t, _ in volumes("prometheus")}
    metrics_ep = static()["metrics"]["prometheus"]["entryPoint"]
    traefik_metrics = static()["entryPoints"][metrics_ep]["address"]
    assert jobs["traefik"]["static_configs"][0]["targets"] == [traefik_metrics]
    config_mount = {t: s for s, t, _ in volumes("prometheus")}["/etc/prometheus/prometheus.yml"]
    assert config_mount == "./prometheus.yml"


def test_grafana_provisions_the_prometheus_datasource_and_dashboard_directory() -> None:
    mounts = {target: source for source, target, _ in volumes("grafana")}
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"
    datasources = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")
    listen = flag(service("prometheus")["command"], "--web.listen-address")
    assert [d["url"] for d in datasources["datasources"]] == [f"http://{listen}"]
    providers = load_yaml(GRAFANA / "provisioning" / "dashboards" / "berth.yml")["providers"]
    path = providers[0]["options"]["path"]
    assert mounts[path] == "./grafana/dashboards"
    assert (GRAFANA / "dashboards").is_dir()
    for dashboard in (GRAFANA / "dashboards").glob("*.json"):
        json.loads(dashboard.read_text())
