from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.models.base import Base, TimestampMixin


class Tenant(TimestampMixin, Base):
    """One customer of the operator, with its desired and observed runtime state.

    Desired fields (plan, env, limits, blueprint_version, desired_state, generation)
    are written only by the API. Observed fields (state, state_reason, container_*)
    are written only by the provisioner.
    """

    __tablename__ = "tenants"
    __table_args__ = (
        # A slug is unique among tenants that still exist; a deleted tenant's row
        # stays for audit and billing and frees its slug.
        Index(
            "uq_tenants_slug_live", "slug", unique=True, postgresql_where=text("deleted_at IS NULL")
        ),
        Index("ix_tenants_state_created", "state", "created_at"),
        Index("ix_tenants_created_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    slug: Mapped[str] = mapped_column(String(32), nullable=False)
    plan: Mapped[str] = mapped_column(ForeignKey("plans.name"), nullable=False)
    blueprint_version: Mapped[str] = mapped_column(ForeignKey("blueprints.version"), nullable=False)
    env: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, default=dict)
    cpu: Mapped[float] = mapped_column(Float, nullable=False)
    memory_mb: Mapped[int] = mapped_column(Integer, nullable=False)
    pids: Mapped[int] = mapped_column(Integer, nullable=False)
    desired_state: Mapped[str] = mapped_column(String(16), nullable=False, default="running")
    keep_data: Mapped[bool] = mapped_column(default=False, nullable=False)
    # Bumped on every change that needs a new container (env, limits, plan, secrets).
    generation: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    state_reason: Mapped[str | None] = mapped_column(Text)
    observed_generation: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    container_id: Mapped[str | None] = mapped_column(String(64))
    container_name: Mapped[str | None] = mapped_column(String(128))
    state_changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()"), nullable=False
    )
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Containment (observed): restarts seen, health, and the container's RestartCount
    # already accounted for, so the reconciler can spot restarts the watcher missed.
    restart_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    observed_restarts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    health: Mapped[str | None] = mapped_column(String(16))
    last_incident_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Desired: a pinned tenant stays on this version whatever rollouts do.
    pinned_version: Mapped[str | None] = mapped_column(String(64))
    # Last activity the idle sweep saw (edge request, CPU or network, resume, deploy).
    last_active_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
