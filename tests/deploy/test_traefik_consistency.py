"""The labels Berth writes on tenant containers agree with Traefik's static and dynamic
files and with compose.yml.

No Docker engine is needed: the files are read directly (see tests/deploy/deploy_files.py).
"""

from __future__ import annotations

import re

import pytest

from controlplane.validation import RESERVED_SLUGS
from provisioner import spec, traefik
from tests.deploy.deploy_files import (
    BERTH_PROCESSES,
    DOCKER_SOCKET,
    DOCKERFILE,
    DOMAIN,
    GO_TEMPLATE,
    SECRETS,
    SERVICES,
    SOCKET_HOLDERS,
    TENANT_NETWORK,
    TRAEFIK_DYNAMIC,
    api_address,
    berth_labels,
    compose,
    dynamic,
    environment,
    flag,
    host_regexp,
    ports,
    service,
    static,
    volumes,
)


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
    names = {m["var"] for m in GO_TEMPLATE.finditer(text)}
    assert names == {"BERTH_DOMAIN"}
    assert environment("traefik")["BERTH_DOMAIN"] == environment("api")["BERTH_DOMAIN"]
    mounts = {target: source for source, target, _ in volumes("traefik")}
    assert mounts["/etc/traefik/dynamic"] == "./traefik/dynamic"
    assert static()["providers"]["file"]["directory"] == "/etc/traefik/dynamic"
    assert mounts["/etc/traefik/traefik.yml"] == "./traefik/traefik.yml"
