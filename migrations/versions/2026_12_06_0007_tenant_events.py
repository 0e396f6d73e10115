"""tenant events and measured usage: the lifecycle log behind SSE and metrics

Lifecycle transitions are recorded by the database itself: a trigger on tenants
appends a tenant_events row in the same transaction as every observed-state change
(so every fenced write that succeeds records its event, and a write the fence
refused records nothing), a trigger on incidents appends one per new incident, and
the provisioner inserts the steps in between (starting, health_checking) with a
generation-fenced INSERT ... SELECT. Every new event NOTIFYs `berth_tenant_event`
with the tenant id, which the API's SSE streams listen to.

tenant_usage holds the latest measured CPU and memory per tenant, one row each,
upserted by the usage sampler.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

LIFECYCLE = """
CREATE FUNCTION berth_tenant_lifecycle() RETURNS trigger AS $$
DECLARE
    ts timestamptz := clock_timestamp();
    k text;
    dur double precision;
    started timestamptz;
    hint text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO tenant_events (tenant_id, slug, kind, detail, at)
        VALUES (NEW.id, NEW.slug, 'signed_up',
                jsonb_build_object('plan', NEW.plan, 'version', NEW.blueprint_version), ts);
        RETURN NULL;
    END IF;
    IF NEW.desired_state IS DISTINCT FROM OLD.desired_state THEN
        IF NEW.desired_state = 'running' AND OLD.desired_state = 'paused'
            AND NEW.state = 'paused' THEN
            INSERT INTO tenant_events (tenant_id, slug, kind, detail, at)
            VALUES (NEW.id, NEW.slug, 'wake_requested', '{}'::jsonb, ts);
        ELSIF NEW.desired_state = 'paused' THEN
            INSERT INTO tenant_events (tenant_id, slug, kind, detail, at)
            VALUES (NEW.id, NEW.slug, 'pause_requested', '{}'::jsonb, ts);
        END IF;
    END IF;
    IF NEW.restart_count > OLD.restart_count THEN
        INSERT INTO tenant_events (tenant_id, slug, kind, detail, at)
        VALUES (NEW.id, NEW.slug, 'restarted',
                jsonb_build_object('restart_count', NEW.restart_count), ts);
    END IF;
    IF NEW.state IS NOT DISTINCT FROM OLD.state THEN
        RETURN NULL;
    END IF;
    k := CASE
        WHEN NEW.state = 'provisioning' THEN 'creating'
        WHEN NEW.state = 'running' AND OLD.state = 'provisioning' THEN 'routed'
        WHEN NEW.state = 'running' AND OLD.state = 'paused' THEN 'woken'
        WHEN NEW.state = 'running' AND OLD.state = 'upgrading' THEN 'upgraded'
        WHEN NEW.state = 'failed' AND OLD.state = 'provisioning' THEN 'provision_failed'
        ELSE NEW.state
    END;
    IF k IN ('routed', 'provision_failed') THEN
        -- set_observed moved state_changed_at: OLD's is when provisioning began.
        dur := extract(epoch FROM ts - OLD.state_changed_at);
    ELSIF k = 'woken' THEN
        -- The waker may say when it began (the edge's thaw commits the request and
        -- the result together); otherwise measure from the recorded wake request.
        hint := current_setting('berth.wake_started', true);
        IF hint IS NOT NULL AND hint <> '' THEN
            started := to_timestamp(hint::double precision);
        ELSE
            SELECT at INTO started FROM tenant_events
             WHERE tenant_id = NEW.id AND kind = 'wake_requested'
             ORDER BY id DESC LIMIT 1;
        END IF;
        IF started IS NOT NULL THEN
            dur := GREATEST(extract(epoch FROM ts - started), 0);
        END IF;
    END IF;
    INSERT INTO tenant_events (tenant_id, slug, kind, detail, duration_seconds, at)
    VALUES (NEW.id, NEW.slug, k,
            jsonb_strip_nulls(jsonb_build_object(
                'from', OLD.state, 'to', NEW.state, 'reason', NEW.state_reason,
                'version', NEW.blueprint_version)),
            dur, ts);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
"""

INCIDENT = """
CREATE FUNCTION berth_incident_event() RETURNS trigger AS $$
BEGIN
    INSERT INTO tenant_events (tenant_id, slug, kind, detail, at)
    VALUES (NEW.tenant_id, NEW.slug, 'incident',
            jsonb_strip_nulls(jsonb_build_object(
                'incident_id', NEW.id, 'incident_kind', NEW.kind,
                'severity', NEW.severity, 'exit_code', NEW.exit_code)),
            clock_timestamp());
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
"""

NOTIFY = """
CREATE FUNCTION berth_tenant_event_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('berth_tenant_event', NEW.tenant_id::text);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
"""


def upgrade() -> None:
    op.create_table(
        "tenant_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("slug", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column(
            "detail", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("duration_seconds", sa.Float()),
        sa.Column(
            "at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_tenant_events_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tenant_events"),
    )
    op.create_index("ix_tenant_events_tenant_id", "tenant_events", ["tenant_id", "id"])
    op.create_index("ix_tenant_events_kind", "tenant_events", ["kind"])
    op.create_index("ix_tenant_events_at", "tenant_events", ["at"])
    op.create_table(
        "tenant_usage",
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("container_id", sa.String(64), nullable=False),
        sa.Column("cpu_ns", sa.BigInteger(), nullable=False),
        sa.Column("cpu_cores", sa.Float()),
        sa.Column("memory_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sampled_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_tenant_usage_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_tenant_usage"),
    )
    op.execute(LIFECYCLE)
    op.execute(INCIDENT)
    op.execute(NOTIFY)
    op.execute(
        "CREATE TRIGGER tenants_lifecycle AFTER INSERT OR UPDATE OF "
        "state, desired_state, restart_count ON tenants "
        "FOR EACH ROW EXECUTE FUNCTION berth_tenant_lifecycle()"
    )
    op.execute(
        "CREATE TRIGGER incidents_event AFTER INSERT ON incidents "
        "FOR EACH ROW EXECUTE FUNCTION berth_incident_event()"
    )
    op.execute(
        "CREATE TRIGGER tenant_events_notify AFTER INSERT ON tenant_events "
        "FOR EACH ROW EXECUTE FUNCTION berth_tenant_event_notify()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER tenant_events_notify ON tenant_events")
    op.execute("DROP TRIGGER incidents_event ON incidents")
    op.execute("DROP TRIGGER tenants_lifecycle ON tenants")
    op.drop_table("tenant_usage")
    op.drop_table("tenant_events")
    op.execute("DROP FUNCTION berth_tenant_event_notify()")
    op.execute("DROP FUNCTION berth_incident_event()")
    op.execute("DROP FUNCTION berth_tenant_lifecycle()")
