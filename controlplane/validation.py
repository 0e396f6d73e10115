"""Input rules shared by several domains (slugs, env names, limits)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_ENV_VALUE = 4096
MAX_ENV_ITEMS = 100

RESERVED_SLUGS = frozenset(
    {
        "admin",
        "api",
        "app",
        "auth",
        "berth",
        "billing",
        "dashboard",
        "docs",
        "edge",
        "ftp",
        "grafana",
        "help",
        "imap",
        "localhost",
        "login",
        "mail",
        "metrics",
        "ns1",
        "ns2",
        "pop",
        "prometheus",
        "root",
        "smtp",
        "static",
        "status",
        "support",
        "system",
        "traefik",
        "www",
    }
)


# Checks use fullmatch: with match, "$" also matches before a trailing newline, and
# "acme\n" would pass into a router rule or a label.


def check_slug(value: str) -> str:
    if not SLUG_RE.fullmatch(value) or "--" in value:
        raise ValueError(
            "must be a DNS label: 3-32 lower-case letters, digits and single dashes, "
            "starting with a letter and not ending with a dash"
        )
    if value in RESERVED_SLUGS:
        raise ValueError(f"'{value}' is reserved")
    return value


def check_env_name(value: str) -> str:
    if not ENV_NAME_RE.fullmatch(value):
        raise ValueError("must match [A-Za-z_][A-Za-z0-9_]* and be at most 128 characters")
    if value.upper().startswith("BERTH_"):
        raise ValueError("names starting with BERTH_ are reserved for Berth")
    return value


def check_env_value(value: str) -> str:
    if len(value) > MAX_ENV_VALUE:
        raise ValueError(f"must be at most {MAX_ENV_VALUE} characters")
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def check_env(env: dict[str, str]) -> dict[str, str]:
    if len(env) > MAX_ENV_ITEMS:
        raise ValueError(f"at most {MAX_ENV_ITEMS} variables")
    for name, value in env.items():
        try:
            check_env_name(name)
            check_env_value(value)
        except ValueError as exc:
            raise ValueError(f"{name!r}: {exc}") from None
    return env


def check_version(value: str) -> str:
    if not VERSION_RE.fullmatch(value):
        raise ValueError("must be 1-64 characters of letters, digits, '.', '_' or '-'")
    return value


# The JSON schemas document the rules for clients (and for the API fuzzer, which then
# sends valid input too); the validators stay the source of truth and of the messages.
Slug = Annotated[
    str,
    AfterValidator(check_slug),
    WithJsonSchema({"type": "string", "pattern": SLUG_RE.pattern, "maxLength": 32}),
]
EnvName = Annotated[
    str,
    AfterValidator(check_env_name),
    WithJsonSchema({"type": "string", "pattern": ENV_NAME_RE.pattern}),
]
EnvMap = Annotated[
    dict[str, str],
    AfterValidator(check_env),
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"pattern": ENV_NAME_RE.pattern},
            "additionalProperties": {"type": "string", "maxLength": MAX_ENV_VALUE},
            "maxProperties": MAX_ENV_ITEMS,
        }
    ),
]
Version = Annotated[
    str,
    AfterValidator(check_version),
    WithJsonSchema({"type": "string", "pattern": VERSION_RE.pattern}),
]


class Limits(BaseModel):
    """Resource limits; omitted fields come from the plan (then the blueprint)."""

    model_config = ConfigDict(extra="forbid")

    cpu: float | None = Field(default=None, gt=0, le=64, description="CPU cores")
    memory_mb: int | None = Field(default=None, ge=16, le=262144, description="memory in MiB")
    pids: int | None = Field(default=None, ge=16, le=65536, description="max processes")
