"""rollouts: rollouts, per-tenant targets, version pinning

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("blueprint_version", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("rollback_of", postgresql.UUID(as_uuid=True)),
        sa.Column("previous_current", sa.String(64)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("max_parallel", sa.Integer(), nullable=False),
        sa.Column("canary_count", sa.Integer(), nullable=False),
        sa.Column("max_failures", sa.Integer(), nullable=False),
        sa.Column("selector", postgresql.JSONB(), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_rollouts"),
        sa.ForeignKeyConstraint(
            ["blueprint_version"],
            ["blueprints.version"],
            name="fk_rollouts_blueprint_version_blueprints",
        ),
    )
    op.create_index(
        "uq_rollouts_active",
        "rollouts",
        ["active"],
        unique=True,
        postgresql_where=sa.text("active"),
    )
    op.create_index("ix_rollouts_created", "rollouts", ["created_at"])
    op.create_table(
        "rollout_targets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rollout_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("slug", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("wave", sa.String(8), nullable=False),
        sa.Column("from_version", sa.String(64), nullable=False),
        sa.Column("to_version", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_rollout_targets"),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["rollouts.id"],
            ondelete="CASCADE",
            name="fk_rollout_targets_rollout_id_rollouts",
        ),
        sa.UniqueConstraint("rollout_id", "tenant_id", name="uq_rollout_targets_rollout_tenant"),
    )
    op.create_index("ix_rollout_targets_rollout_state", "rollout_targets", ["rollout_id", "state"])
    op.add_column("tenants", sa.Column("pinned_version", sa.String(64)))


def downgrade() -> None:
    op.drop_column("tenants", "pinned_version")
    op.drop_table("rollout_targets")
    op.drop_table("rollouts")
