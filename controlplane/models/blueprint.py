from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.models.base import Base, TimestampMixin


class Blueprint(TimestampMixin, Base):
    """A version of the operator's agent runtime image."""

    __tablename__ = "blueprints"
    __table_args__ = (
        # At most one blueprint is the one new signups get.
        Index(
            "uq_blueprints_current", "is_current", unique=True, postgresql_where=text("is_current")
        ),
    )

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    image: Mapped[str] = mapped_column(String(255), nullable=False)
    port: Mapped[int] = mapped_column(Integer, nullable=False)
    health_path: Mapped[str] = mapped_column(String(255), nullable=False)
    user: Mapped[str] = mapped_column(String(32), nullable=False)
    default_env: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, default=dict)
    default_limits: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    is_current: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # OCI runtime asked for (e.g. runsc); None: the plan's or the engine's default.
    runtime: Mapped[str | None] = mapped_column(String(32))
