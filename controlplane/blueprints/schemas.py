"""Request and response bodies for blueprints."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from controlplane.validation import EnvMap, Limits, Version

IMAGE_RE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]{0,254}$")
USER_RE = re.compile(r"^[0-9]{1,10}(:[0-9]{1,10})?$")
HEALTH_RE = re.compile(r"^/[A-Za-z0-9._~/-]{0,254}$")


def _image(value: str) -> str:
    if not IMAGE_RE.fullmatch(value):
        raise ValueError("must be a Docker image reference such as 'registry/name:tag'")
    return value


def _user(value: str) -> str:
    if not USER_RE.fullmatch(value):
        raise ValueError("must be a numeric 'uid' or 'uid:gid'")
    if any(int(part) == 0 for part in value.split(":")):
        raise ValueError("tenants never run as root (uid or gid 0)")
    return value


def _health(value: str) -> str:
    if not HEALTH_RE.fullmatch(value):
        raise ValueError("must be an absolute URL path such as /health")
    return value


class BlueprintCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Version
    image: Annotated[str, AfterValidator(_image)]
    port: int = Field(default=8080, ge=1, le=65535)
    health_path: Annotated[str, AfterValidator(_health)] = "/health"
    user: Annotated[str, AfterValidator(_user)] = "10001:10001"
    default_env: EnvMap = Field(default_factory=dict)
    default_limits: Limits | None = None
    make_current: bool = Field(
        default=False,
        description="make new signups use this version (the first blueprint always is)",
    )
    runtime: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9._-]{0,31}$",
        description="OCI runtime, e.g. runsc (gVisor); refused if the engine lacks it",
    )


class BlueprintOut(BaseModel):
    version: str
    image: str
    port: int
    health_path: str
    user: str
    default_env: dict[str, str]
    default_limits: dict[str, float | int]
    is_current: bool
    runtime: str | None = None
    created_at: datetime
