"""containment: incidents, restart and health tracking on tenants

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("slug", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("exit_code", sa.Integer()),
        sa.Column("restart_count", sa.Integer(), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("container_id", sa.String(64)),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("detail", postgresql.JSONB(), nullable=False),
        sa.Column(
            "opened_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "last_seen_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], ondelete="CASCADE", name="fk_incidents_tenant_id_tenants"
        ),
    )
    op.create_index("ix_incidents_tenant_opened", "incidents", ["tenant_id", "opened_at"])
    op.create_index("ix_incidents_opened", "incidents", ["opened_at", "id"])
    op.add_column(
        "tenants", sa.Column("restart_count", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "tenants", sa.Column("observed_restarts", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("tenants", sa.Column("health", sa.String(16)))
    op.add_column("tenants", sa.Column("last_incident_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("tenants", "last_incident_at")
    op.drop_column("tenants", "health")
    op.drop_column("tenants", "observed_restarts")
    op.drop_column("tenants", "restart_count")
    op.drop_table("incidents")
