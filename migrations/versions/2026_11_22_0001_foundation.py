"""foundation: plans, blueprints, tenants, secrets, audit events

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def upgrade() -> None:
    plans = op.create_table(
        "plans",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("cpu", sa.Float(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("pids", sa.Integer(), nullable=False),
        sa.Column("max_cpu", sa.Float(), nullable=False),
        sa.Column("max_memory_mb", sa.Integer(), nullable=False),
        sa.Column("max_pids", sa.Integer(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("name", name="pk_plans"),
    )
    op.bulk_insert(
        plans,
        [
            {
                "name": "free",
                "cpu": 0.25,
                "memory_mb": 64,
                "pids": 64,
                "max_cpu": 0.5,
                "max_memory_mb": 128,
                "max_pids": 128,
            },
            {
                "name": "standard",
                "cpu": 0.5,
                "memory_mb": 128,
                "pids": 128,
                "max_cpu": 1.0,
                "max_memory_mb": 512,
                "max_pids": 256,
            },
            {
                "name": "pro",
                "cpu": 1.0,
                "memory_mb": 256,
                "pids": 256,
                "max_cpu": 2.0,
                "max_memory_mb": 2048,
                "max_pids": 1024,
            },
        ],
    )
    op.create_table(
        "blueprints",
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("image", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("health_path", sa.String(255), nullable=False),
        sa.Column("user", sa.String(32), nullable=False),
        sa.Column("default_env", postgresql.JSONB(), nullable=False),
        sa.Column("default_limits", postgresql.JSONB(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("version", name="pk_blueprints"),
    )
    op.create_index(
        "uq_blueprints_current",
        "blueprints",
        ["is_current"],
        unique=True,
        postgresql_where=sa.text("is_current"),
    )
    op.create_table(
        "tenants",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("slug", sa.String(32), nullable=False),
        sa.Column("plan", sa.String(32), nullable=False),
        sa.Column("blueprint_version", sa.String(64), nullable=False),
        sa.Column("env", postgresql.JSONB(), nullable=False),
        sa.Column("cpu", sa.Float(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("pids", sa.Integer(), nullable=False),
        sa.Column("desired_state", sa.String(16), nullable=False),
        sa.Column("keep_data", sa.Boolean(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_reason", sa.Text()),
        sa.Column("observed_generation", sa.Integer(), nullable=False),
        sa.Column("container_id", sa.String(64)),
        sa.Column("container_name", sa.String(128)),
        sa.Column(
            "state_changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        sa.ForeignKeyConstraint(["plan"], ["plans.name"], name="fk_tenants_plan_plans"),
        sa.ForeignKeyConstraint(
            ["blueprint_version"],
            ["blueprints.version"],
            name="fk_tenants_blueprint_version_blueprints",
        ),
    )
    op.create_index(
        "uq_tenants_slug_live",
        "tenants",
        ["slug"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index("ix_tenants_state_created", "tenants", ["state", "created_at"])
    op.create_index("ix_tenants_created_id", "tenants", ["created_at", "id"])
    op.create_table(
        "tenant_secrets",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_tenant_secrets"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            ondelete="CASCADE",
            name="fk_tenant_secrets_tenant_id_tenants",
        ),
        sa.UniqueConstraint("tenant_id", "name", name="uq_tenant_secrets_tenant_name"),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(64)),
        sa.Column("detail", postgresql.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_target_at", "audit_events", ["target", "at"])


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_table("tenant_secrets")
    op.drop_table("tenants")
    op.drop_table("blueprints")
    op.drop_table("plans")
