"""idle and billing: plan idle policy and prices, the usage ledger, frozen statements

The usage ledger is written by the database itself: a trigger on tenants appends an
entry in the same transaction as every change of billed state (running / paused /
off), plan, or allocation, so no code path can change a tenant and forget the
ledger. A second trigger re-prices open intervals when a plan's prices change.
Both the ledger and the frozen billing statements refuse UPDATE, DELETE and TRUNCATE.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# (name, idle_after seconds or None, pause_mode, active cents/h, paused cents/h)
SEED = [
    ("free", 600, "stop", 0, 0),
    ("standard", 1800, "freeze", 4, 1),
    ("pro", None, "freeze", 12, 2),
]

APPEND_ONLY = """
CREATE FUNCTION berth_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;
"""

TENANT_USAGE = """
CREATE FUNCTION berth_tenant_usage() RETURNS trigger AS $$
DECLARE
    cat text;
    p plans%ROWTYPE;
    price integer;
    last usage_ledger%ROWTYPE;
    found_last boolean;
    ts timestamptz := clock_timestamp();
BEGIN
    -- What the customer is billed for right now. A provisioning tenant that still
    -- has a container (a blue/green replacement) keeps serving, so it is running.
    cat := CASE
        WHEN NEW.deleted_at IS NOT NULL THEN 'off'
        WHEN NEW.state IN ('running', 'upgrading') THEN 'running'
        WHEN NEW.state = 'provisioning' AND NEW.container_id IS NOT NULL THEN 'running'
        WHEN NEW.state = 'paused' THEN 'paused'
        ELSE 'off'
    END;
    SELECT * INTO p FROM plans WHERE name = NEW.plan;
    price := CASE cat
        WHEN 'running' THEN p.price_active_cents
        WHEN 'paused' THEN p.price_paused_cents
        ELSE 0
    END;
    SELECT * INTO last FROM usage_ledger WHERE tenant_id = NEW.id ORDER BY seq DESC LIMIT 1;
    found_last := FOUND;
    IF NOT found_last AND cat = 'off' THEN
        RETURN NULL;  -- nothing billed yet
    END IF;
    IF found_last AND last.state = cat AND last.plan = NEW.plan AND last.cpu = NEW.cpu
        AND last.memory_mb = NEW.memory_mb AND last.price_cents_per_hour = price
        AND last.currency = p.currency THEN
        RETURN NULL;  -- nothing billed changed
    END IF;
    INSERT INTO usage_ledger
        (tenant_id, seq, slug, at, state, plan, cpu, memory_mb, price_cents_per_hour, currency)
    VALUES (
        NEW.id,
        CASE WHEN found_last THEN last.seq + 1 ELSE 1 END,
        NEW.slug,
        -- Never before the previous entry, so a tenant's intervals cannot overlap.
        CASE WHEN found_last THEN GREATEST(ts, last.at) ELSE ts END,
        cat, NEW.plan, NEW.cpu, NEW.memory_mb, price, p.currency
    );
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
"""

PLAN_REPRICE = """
CREATE FUNCTION berth_plan_reprice() RETURNS trigger AS $$
BEGIN
    -- Touching `plan` fires berth_tenant_usage, which opens a new interval at the
    -- new price for every live tenant on this plan.
    UPDATE tenants SET plan = plan WHERE plan = NEW.name AND deleted_at IS NULL;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
"""


def _append_only(table: str) -> None:
    # Statement level, so even an UPDATE or DELETE that matches no row is refused.
    op.execute(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION berth_append_only()"
    )


def upgrade() -> None:
    op.add_column("plans", sa.Column("idle_after", sa.Integer()))
    op.add_column(
        "plans", sa.Column("pause_mode", sa.String(8), nullable=False, server_default="stop")
    )
    op.add_column(
        "plans",
        sa.Column("price_active_cents", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "plans",
        sa.Column("price_paused_cents", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "plans", sa.Column("currency", sa.String(3), nullable=False, server_default="USD")
    )
    op.create_check_constraint("pause_mode", "plans", "pause_mode IN ('freeze', 'stop')")
    op.create_check_constraint("idle_after", "plans", "idle_after IS NULL OR idle_after > 0")
    op.create_check_constraint(
        "prices", "plans", "price_active_cents >= 0 AND price_paused_cents >= 0"
    )
    for name, idle_after, mode, active, paused in SEED:
        op.execute(
            sa.text(
                "UPDATE plans SET idle_after = :idle, pause_mode = :mode, "
                "price_active_cents = :active, price_paused_cents = :paused WHERE name = :name"
            ).bindparams(idle=idle_after, mode=mode, active=active, paused=paused, name=name)
        )
    op.add_column("tenants", sa.Column("last_active_at", sa.DateTime(timezone=True)))

    op.create_table(
        "usage_ledger",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("plan", sa.String(32), nullable=False),
        sa.Column("cpu", sa.Float(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("price_cents_per_hour", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_usage_ledger"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_usage_ledger_tenant_id_tenants"
        ),
        sa.UniqueConstraint("tenant_id", "seq", name="uq_usage_ledger_tenant_id"),
        sa.CheckConstraint("state IN ('running', 'paused', 'off')", name="ck_usage_ledger_state"),
    )
    op.create_index("ix_usage_ledger_at", "usage_ledger", ["at"])
    op.create_table(
        "billing_statements",
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("body", postgresql.JSONB(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("period", name="pk_billing_statements"),
    )
    op.execute(APPEND_ONLY)
    op.execute(TENANT_USAGE)
    op.execute(PLAN_REPRICE)
    _append_only("usage_ledger")
    _append_only("billing_statements")
    op.execute(
        "CREATE TRIGGER tenants_usage AFTER INSERT OR UPDATE OF "
        "state, deleted_at, plan, cpu, memory_mb, container_id ON tenants "
        "FOR EACH ROW EXECUTE FUNCTION berth_tenant_usage()"
    )
    op.execute(
        "CREATE TRIGGER plans_reprice AFTER UPDATE OF "
        "price_active_cents, price_paused_cents, currency ON plans "
        "FOR EACH ROW EXECUTE FUNCTION berth_plan_reprice()"
    )
    # Open the ledger for tenants that already exist.
    op.execute("UPDATE tenants SET plan = plan WHERE deleted_at IS NULL")


def downgrade() -> None:
    op.execute("DROP TRIGGER plans_reprice ON plans")
    op.execute("DROP TRIGGER tenants_usage ON tenants")
    op.drop_table("billing_statements")
    op.drop_table("usage_ledger")
    op.execute("DROP FUNCTION berth_plan_reprice()")
    op.execute("DROP FUNCTION berth_tenant_usage()")
    op.execute("DROP FUNCTION berth_append_only()")
    op.drop_column("tenants", "last_active_at")
    for name in ("prices", "idle_after", "pause_mode"):
        op.drop_constraint(f"ck_plans_{name}", "plans", type_="check")
    for col in ("currency", "price_paused_cents", "price_active_cents", "pause_mode", "idle_after"):
        op.drop_column("plans", col)
