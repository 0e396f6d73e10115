"""The production compose file holds together: it renders, its services are hygienic,
and its observability services are wired up.

No Docker engine is needed. The compose-tool tests run `docker compose config` (or
`docker-compose config`), which only renders and validates the file; the others read
the files directly (see tests/deploy/deploy_files.py).
"""

from __future__ import annotations

import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import yaml

from tests.deploy.deploy_files import (
    BERTH_PROCESSES,
    COMPOSE_VAR,
    DOCKERFILE,
    ENV_EXAMPLE,
    GRAFANA,
    LONG_RUNNING,
    ONE_SHOT,
    PROMETHEUS,
    SECRETS,
    SERVICES,
    all_strings,
    api_address,
    compose_config,
    environment,
    flag,
    load_yaml,
    parse_env_file,
    raw_compose,
    service,
    static,
    volumes,
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
    for text in all_strings(raw_compose()):
        for m in COMPOSE_VAR.finditer(text):
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
