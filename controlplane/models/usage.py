from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Float, ForeignKey, Identity, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.models.base import Base


class UsageEntry(Base):
    """From `at` until the tenant's next entry, it was in `state` with this allocation.

    Appended only by the database (trigger berth_tenant_usage); never updated or
    deleted, so intervals cannot overlap and history cannot be rewritten.
    """

    __tablename__ = "usage_ledger"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id"), nullable=False
    )
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    slug: Mapped[str] = mapped_column(String(32), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    state: Mapped[str] = mapped_column(String(8), nullable=False)  # running | paused | off
    plan: Mapped[str] = mapped_column(String(32), nullable=False)
    cpu: Mapped[float] = mapped_column(Float, nullable=False)
    memory_mb: Mapped[int] = mapped_column(Integer, nullable=False)
    price_cents_per_hour: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)


class BillingStatement(Base):
    """The export of a closed period, frozen the first time it is asked for."""

    __tablename__ = "billing_statements"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
