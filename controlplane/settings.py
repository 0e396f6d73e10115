"""One Settings object, read from the environment with the prefix BERTH_."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_WEAK_TOKENS = {"", "admin", "changeme", "secret", "password", "berth", "token"}


class InsecureSettingsError(RuntimeError):
    """Raised when production settings still carry development defaults."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BERTH_", extra="ignore")

    env: Literal["dev", "prod"] = "dev"
    data_dir: Path = Path(".berth")
    database_url: str | None = None
    redis_url: str | None = None
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    domain: str = "berth.localhost"
    admin_token: str | None = None
    secret_key: str | None = None
    # Lets several control planes (or test runs) share one engine: every object
    # Berth creates carries berth.instance=<instance> and Berth only touches its own.
    instance: str = "default"
    tenant_network: str = "berth-tenants"
    # Which engine runs tenants: one Docker host, or a Docker Swarm (docs: README).
    runtime: Literal["docker", "swarm"] = "docker"
    # On Swarm, how the worker reaches a task for its health probe: over the tenants
    # overlay (the worker is a service attached to it) or, for a worker running on the
    # manager's host itself, over the node-local docker_gwbridge.
    swarm_probe: Literal["overlay", "gateway"] = "overlay"
    # On Swarm, placement constraints per plan, e.g.
    # {"pro": ["node.labels.berth.pool==pro"]}; plans not named run on any node.
    swarm_placement: dict[str, list[str]] = Field(default_factory=dict)
    traefik_entrypoints: str = "web"
    traefik_middlewares: str = ""
    provision_timeout: float = Field(default=60.0, gt=0)
    health_poll_interval: float = Field(default=0.05, gt=0)
    reconcile_interval: float = Field(default=30.0, gt=0)
    task_visibility_timeout: int = Field(default=300, gt=0)
    worker_concurrency: int = Field(default=8, gt=0)
    crashloop_threshold: int = Field(default=5, ge=2)
    crashloop_window: float = Field(default=300.0, gt=0)
    restart_backoff_base: float = Field(default=2.0, gt=0)
    restart_backoff_max: float = Field(default=300.0, gt=0)
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    signup_rate: float = Field(default=60.0, gt=0)  # signups per minute per key, sustained
    signup_burst: int = Field(default=20, ge=1)  # signups per key allowed at once
    default_plan: str = "standard"
    # Idle tenants and waking them (see controlplane/edge and provisioner/idle.py).
    idle_sweep_interval: float = Field(default=15.0, gt=0)
    idle_cpu_threshold: float = Field(default=0.05, ge=0)  # cores, averaged between sweeps
    idle_net_threshold: float = Field(default=512.0, ge=0)  # bytes/s in + out
    # dockerd answers a stats call at its collector's next 1 s tick, so calls mostly wait.
    idle_concurrency: int = Field(default=32, ge=1)  # parallel one-shot stats calls
    wake_timeout: float = Field(default=30.0, gt=0)  # a wake gives up after this
    gate_wait: float = Field(default=20.0, gt=0)  # the gate holds a request this long
    waker_wait: float = Field(default=3.0, ge=0)  # the waker page shows after this
    # Monitoring: measured CPU/memory per running tenant, and the dashboard's sessions.
    usage_sample_interval: float = Field(default=30.0, gt=0)
    # Where tenant CPU/memory/network counters come from (idle sweep, usage sampler):
    # `auto` reads the host's cgroup and /proc files when visible, else asks the engine.
    stats_source: Literal["auto", "engine"] = "auto"
    # Where the host's /sys/fs/cgroup and /proc are mounted (a containerised worker
    # gets them read-only under /host, as node-exporter does).
    host_root: Path = Path("/")
    dashboard_session_ttl: int = Field(default=8 * 3600, gt=0)  # seconds
    # tenant_events older than this are pruned (their counts kept in a rollup); 0 keeps all.
    event_retention_days: int = Field(default=30, ge=0)
    # Runtime security: controlplane/tenant_runtime, provisioner/leakscan.py.
    runtime_url: str = ""  # injected as BERTH_RUNTIME_URL when set: where tenants call back
    leak_scan_interval: float = Field(default=60.0, gt=0)  # seconds between log scans
    leak_scan_min_length: int = Field(default=8, ge=1)  # shorter secret values are not scanned
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    def require_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError(
                "BERTH_DATABASE_URL is not set; start Berth with `berth run` "
                "(which starts an embedded PostgreSQL) or set it"
            )
        return self.database_url

    def require_redis_url(self) -> str:
        if not self.redis_url:
            raise RuntimeError(
                "BERTH_REDIS_URL is not set; start Berth with `berth run` "
                "(which starts an embedded Redis) or set it"
            )
        return self.redis_url

    def resolved_admin_token(self) -> str:
        """The admin token: BERTH_ADMIN_TOKEN, or one generated once into the data dir."""
        if self.admin_token:
            return self.admin_token
        return _read_or_create(self.data_dir / "admin.token", lambda: secrets.token_urlsafe(32))

    def resolved_secret_key(self) -> str:
        """The encryption key: BERTH_SECRET_KEY, or one generated once into the data dir."""
        if self.secret_key:
            return self.secret_key
        if self.env == "prod":
            raise InsecureSettingsError("BERTH_SECRET_KEY must be set when BERTH_ENV=prod")
        from cryptography.fernet import Fernet

        return _read_or_create(self.data_dir / "secret.key", lambda: Fernet.generate_key().decode())

    def check_production_safety(self) -> None:
        """Refuse development defaults outside dev."""
        if self.env != "prod":
            return
        if not self.secret_key:
            raise InsecureSettingsError("BERTH_SECRET_KEY must be set when BERTH_ENV=prod")
        token = self.admin_token or ""
        if token.lower() in _WEAK_TOKENS or len(token) < 32:
            raise InsecureSettingsError(
                "BERTH_ADMIN_TOKEN must be set to a random value of 32+ characters "
                "when BERTH_ENV=prod"
            )


def _read_or_create(path: Path, make: Callable[[], str]) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    # O_EXCL so two processes starting at once agree on one value.
    try:
        fd = path.open("x", encoding="utf-8")
    except FileExistsError:
        return path.read_text().strip()
    with fd:
        path.chmod(0o600)
        fd.write(value + "\n")
    return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
