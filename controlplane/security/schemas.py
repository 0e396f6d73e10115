"""API key bodies. The key itself appears only in ApiKeyCreated, once."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from controlplane.security.auth import SCOPES


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
    scopes: list[str] = Field(
        min_length=1,
        max_length=len(SCOPES),
        json_schema_extra={"items": {"type": "string", "enum": list(SCOPES)}},
    )

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in SCOPES]
        if unknown:
            # Name the field, not the item: the error is about the list.
            raise ValueError(f"unknown scope(s) {unknown}; valid scopes are {list(SCOPES)}")
        return list(dict.fromkeys(value))


class ApiKeyOut(BaseModel):
    id: str
    name: str
    scopes: list[str]
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The bearer key. Shown only in this response; store it now.")
