from __future__ import annotations

from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.models.base import Base, TimestampMixin


class Plan(TimestampMixin, Base):
    """A commercial plan: default resource limits and the most a tenant may ask for."""

    __tablename__ = "plans"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    cpu: Mapped[float] = mapped_column(Float, nullable=False)
    memory_mb: Mapped[int] = mapped_column(Integer, nullable=False)
    pids: Mapped[int] = mapped_column(Integer, nullable=False)
    max_cpu: Mapped[float] = mapped_column(Float, nullable=False)
    max_memory_mb: Mapped[int] = mapped_column(Integer, nullable=False)
    max_pids: Mapped[int] = mapped_column(Integer, nullable=False)
