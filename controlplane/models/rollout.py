from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.models.base import Base

ACTIVE_ROLLOUT_STATES = ("pending", "canary", "rolling")


class Rollout(Base):
    """Moving a set of tenants to a blueprint version, in waves. The truth for resuming."""

    __tablename__ = "rollouts"
    __table_args__ = (
        # At most one rollout is active at a time: a second deploy is a 409.
        Index("uq_rollouts_active", "active", unique=True, postgresql_where=text("active")),
        Index("ix_rollouts_created", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    blueprint_version: Mapped[str] = mapped_column(ForeignKey("blueprints.version"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="deploy")
    rollback_of: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    previous_current: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    active: Mapped[bool] = mapped_column(nullable=False, default=True)
    max_parallel: Mapped[int] = mapped_column(Integer, nullable=False)
    canary_count: Mapped[int] = mapped_column(Integer, nullable=False)
    max_failures: Mapped[int] = mapped_column(Integer, nullable=False)
    selector: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RolloutTarget(Base):
    """One tenant in a rollout: pending → upgrading → done | failed, or skipped."""

    __tablename__ = "rollout_targets"
    __table_args__ = (
        UniqueConstraint("rollout_id", "tenant_id", name="uq_rollout_targets_rollout_tenant"),
        Index("ix_rollout_targets_rollout_state", "rollout_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    rollout_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("rollouts.id", ondelete="CASCADE"), nullable=False
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    slug: Mapped[str] = mapped_column(String(32), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    wave: Mapped[str] = mapped_column(String(8), nullable=False)  # canary | main
    from_version: Mapped[str] = mapped_column(String(64), nullable=False)
    to_version: Mapped[str] = mapped_column(String(64), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
