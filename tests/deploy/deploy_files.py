"""The deploy/ files as the tests read them: compose.yml interpolated the way compose
does, Traefik's dynamic file rendered the way its file provider does, and the compose tool.

compose.yml is interpolated with the variables from deploy/.env.example plus test secrets;
the Traefik dynamic file is rendered with the Go template `env` / `replace` subset it uses.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner import traefik

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

COMPOSE_VAR = re.compile(
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

    return COMPOSE_VAR.sub(sub, value)


def _walk(node: Any, fn: Any) -> Any:
    if isinstance(node, str):
        return fn(node)
    if isinstance(node, list):
        return [_walk(item, fn) for item in node]
    if isinstance(node, dict):
        return {key: _walk(value, fn) for key, value in node.items()}
    return node


def all_strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [s for item in node for s in all_strings(item)]
    if isinstance(node, dict):
        return [s for value in node.values() for s in all_strings(value)]
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


GO_TEMPLATE = re.compile(
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

    out = GO_TEMPLATE.sub(sub, text)
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
