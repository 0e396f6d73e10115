from __future__ import annotations

from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.models.base import Base, TimestampMixin


class Plan(TimestampMixin, Base):
    """A commercial plan: limits, idle policy and prices.

    Prices are integer cents per hour. Changing them re-prices every open usage
    interval of the plan's tenants (a database trigger, see migration 0005).
    """

    __tablename__ = "plans"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    cpu: Mapped[float] = mapped_column(Float, nullable=False)
    memory_mb: Mapped[int] = mapped_column(Integer, nullable=False)
    pids: Mapped[int] = mapped_column(Integer, nullable=False)
    max_cpu: Mapped[float] = mapped_column(Float, nullable=False)
    max_memory_mb: Mapped[int] = mapped_column(Integer, nullable=False)
    max_pids: Mapped[int] = mapped_column(Integer, nullable=False)
    # Seconds without activity before a tenant is paused; None never pauses.
    idle_after: Mapped[int | None] = mapped_column(Integer)
    pause_mode: Mapped[str] = mapped_column(String(8), nullable=False, default="stop")
    price_active_cents: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    price_paused_cents: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="USD")
    # Outbound network policy of the plan's containers (provisioner/egress.py).
    egress: Mapped[str] = mapped_column(
        String(16), nullable=False, default="open", server_default="open"
    )
    # OCI runtime asked for (e.g. runsc); None: the engine's default.
    runtime: Mapped[str | None] = mapped_column(String(32))
