"""event retention: the totals of pruned lifecycle events

tenant_events is pruned past BERTH_EVENT_RETENTION_DAYS (provisioner/retention.py).
The metrics' lifecycle counters and histograms must never go down, so each pruned
event of a counted kind is first folded into one row per kind here, in the same
transaction as its delete; /metrics adds these totals to the live aggregate.

duration_sum is NUMERIC so the sum is exact and independent of how the events are
split between the live table and the rollup (a float sum depends on the order of
its additions, and the scrape must not change by a prune). buckets maps each
histogram bound (Python's repr of the float, e.g. "0.005") to how many pruned
events took at most that long.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_event_rollup",
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("timed", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("duration_sum", sa.Numeric(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "buckets", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.PrimaryKeyConstraint("kind", name="pk_tenant_event_rollup"),
    )


def downgrade() -> None:
    op.drop_table("tenant_event_rollup")
