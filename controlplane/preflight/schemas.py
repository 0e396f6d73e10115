"""The preflight report as the API returns it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Status = Literal["pass", "warn", "fail"]


class CheckOut(BaseModel):
    id: str = Field(description="the check, e.g. privileged, memory, admin_token")
    status: Status
    detail: str = Field(description="why, in one line (never a secret)")
    reference: str = Field(default="", description="the CIS Docker Benchmark item, if any")


class ContainerReport(BaseModel):
    id: str = Field(description="container id (12 characters)")
    name: str
    tenant: str | None = Field(description="the berth.tenant label, if any")
    state: str
    runtime: str = Field(description="OCI runtime: runc, or runsc for gVisor")
    status: Status = Field(description="the worst of its checks")
    checks: list[CheckOut]


class EngineReport(BaseModel):
    name: str = Field(description="engine product name, e.g. Docker Engine - Community")
    version: str
    api_version: str
    os: str
    default_runtime: str
    runtimes: list[str]
    security_options: list[str]


class Summary(BaseModel):
    passed: int = Field(ge=0, description="checks that pass, over containers and Berth")
    warned: int = Field(ge=0)
    failed: int = Field(ge=0)


class PreflightReport(BaseModel):
    status: Status = Field(description="fail if any check fails, else warn if any warns")
    checked_at: datetime
    summary: Summary
    engine: EngineReport
    berth: list[CheckOut] = Field(description="Berth's own posture and daemon advice")
    containers: list[ContainerReport] = Field(description="every container of this instance")
