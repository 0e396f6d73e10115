from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.models.base import Base


class RuntimeToken(Base):
    """A tenant container's bearer token for calling back to Berth (SHA-256 stored only).

    One per container created; the id is also on the container as a label, so the
    provisioner knows which token the serving container holds and revokes the rest.
    """

    __tablename__ = "runtime_tokens"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
