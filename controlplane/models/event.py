from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Numeric,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.models.base import Base


class TenantEvent(Base):
    """One lifecycle transition of a tenant (creating, routed, paused, woken, incident...).

    Mostly written by database triggers (migration 0007) in the transaction of the
    change itself; the provisioner adds the steps between (starting, health_checking).
    """

    __tablename__ = "tenant_events"
    __table_args__ = (
        Index("ix_tenant_events_tenant_id", "tenant_id", "id"),
        Index("ix_tenant_events_kind", "kind"),
        Index("ix_tenant_events_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    slug: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    detail: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    # Provisioning (routed, provision_failed) and wake (woken) latency.
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("clock_timestamp()"), nullable=False
    )


class TenantEventRollup(Base):
    """The totals of pruned events of one counted kind (migration 0008): what the
    metrics add to the live aggregate so counters never go down when rows are pruned."""

    __tablename__ = "tenant_event_rollup"

    kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    timed: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    # Exact, so live + rollup is the same sum however the events are split.
    duration_sum: Mapped[Decimal] = mapped_column(Numeric, nullable=False, server_default=text("0"))
    # Histogram bound (repr of the float) -> pruned events that took at most that long.
    buckets: Mapped[dict[str, int]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )


class TenantUsage(Base):
    """A tenant's latest measured CPU and memory use (one row per tenant, upserted)."""

    __tablename__ = "tenant_usage"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    container_id: Mapped[str] = mapped_column(String(64), nullable=False)
    cpu_ns: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # None until a second sample of the same container gives a rate.
    cpu_cores: Mapped[float | None] = mapped_column(Float)
    memory_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sampled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
