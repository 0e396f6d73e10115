"""Berth's own posture (keys, token, schema) and advice on the engine's daemon settings."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

from provisioner.hardening import Check

# Values found in docs, examples and tutorials; a key equal to one of them is public.
KNOWN_DEFAULTS = frozenset(
    {
        "",
        "admin",
        "berth",
        "changeme",
        "change-me",
        "changethis",
        "default",
        "password",
        "secret",
        "secret-key",
        "secretkey",
        "test",
        "token",
        "dev",
        "development",
    }
)
MIN_LENGTH = 32
MIN_ENTROPY_BITS = 96  # a 32-character hex token estimates at ~120


def entropy_bits(value: str) -> float:
    """Shannon entropy of the value's own characters, times its length (an upper bound)."""
    if not value:
        return 0.0
    counts = Counter(value)
    per_char = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return per_char * len(value)


def _weak_reason(value: str) -> str | None:
    if value.lower() in KNOWN_DEFAULTS:
        return "is a well-known default"
    if len(value) < MIN_LENGTH:
        return f"is shorter than {MIN_LENGTH} characters"
    if entropy_bits(value) < MIN_ENTROPY_BITS:
        return "is too repetitive to be random"
    return None


def check_secret_key(configured: str | None, resolved: str) -> Check:
    """BERTH_SECRET_KEY is set, strong, and not a known default."""
    if configured is None:
        return Check(
            "secret_key",
            "warn",
            "generated into the data directory; set BERTH_SECRET_KEY (and back it up) "
            "so the secrets survive losing that directory",
        )
    reason = _weak_reason(resolved)
    if reason:
        return Check("secret_key", "fail", f"BERTH_SECRET_KEY {reason}")
    return Check("secret_key", "pass", "set, not a default")


def check_admin_token(configured: str | None, resolved: str) -> Check:
    """The admin token is long and random."""
    reason = _weak_reason(resolved)
    where = "BERTH_ADMIN_TOKEN" if configured else "the generated admin token"
    if reason:
        return Check("admin_token", "fail", f"{where} {reason}")
    return Check("admin_token", "pass", f"{where} is strong")


def check_migrations(at_head: bool) -> Check:
    if at_head:
        return Check("migrations", "pass", "database schema at the newest migration")
    return Check("migrations", "fail", "database schema behind; run `berth migrate`")


def check_tenant_network(network: Mapping[str, Any] | None, name: str) -> Check:
    """Berth's tenants network keeps inter-container traffic off."""
    if network is None:
        return Check("tenant_network", "warn", f"{name} does not exist yet (no tenant so far)")
    icc = str((network.get("Options") or {}).get("com.docker.network.bridge.enable_icc", "true"))
    if icc.lower() == "false":
        return Check("tenant_network", "pass", f"{name}: inter-container traffic off")
    return Check("tenant_network", "fail", f"{name}: inter-container traffic on")


def daemon_advice(info: Mapping[str, Any], bridge: Mapping[str, Any] | None) -> list[Check]:
    """What `docker info` says about the daemon; advice only, so never worse than warn."""
    checks = []
    if info.get("LiveRestoreEnabled"):
        checks.append(Check("daemon.live_restore", "pass", "live-restore on", "CIS 2.15"))
    else:
        checks.append(
            Check(
                "daemon.live_restore",
                "warn",
                "live-restore off: a daemon restart stops every tenant",
                "CIS 2.15",
            )
        )
    icc = "true"
    if bridge is not None:
        icc = str((bridge.get("Options") or {}).get("com.docker.network.bridge.enable_icc", "true"))
    if icc.lower() == "false":
        checks.append(Check("daemon.icc", "pass", "icc off on the default bridge", "CIS 2.2"))
    else:
        checks.append(
            Check(
                "daemon.icc",
                "warn",
                "icc on the default bridge (Berth's tenants use their own network; "
                "other containers there can talk to each other)",
                "CIS 2.2",
            )
        )
    options = [str(o) for o in info.get("SecurityOptions") or []]
    if any(o.startswith("name=userns") for o in options):
        checks.append(Check("daemon.userns_remap", "pass", "userns-remap on", "CIS 2.10"))
    else:
        checks.append(
            Check(
                "daemon.userns_remap",
                "warn",
                "userns-remap off: root in a container is root on the host",
                "CIS 2.10",
            )
        )
    return checks
