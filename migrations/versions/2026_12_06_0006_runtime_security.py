"""runtime security: per-container runtime tokens, egress mode and sandbox runtime

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runtime_tokens",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_runtime_tokens"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_runtime_tokens_tenant_id_tenants",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_runtime_tokens_tenant_id", "runtime_tokens", ["tenant_id"])
    op.add_column(
        "plans", sa.Column("egress", sa.String(16), nullable=False, server_default="open")
    )
    op.add_column("plans", sa.Column("runtime", sa.String(32)))
    op.add_column("blueprints", sa.Column("runtime", sa.String(32)))


def downgrade() -> None:
    op.drop_column("blueprints", "runtime")
    op.drop_column("plans", "runtime")
    op.drop_column("plans", "egress")
    op.drop_index("ix_runtime_tokens_tenant_id", table_name="runtime_tokens")
    op.drop_table("runtime_tokens")
