"""Events (an outbox of sign-up changes), webhook deliveries, the welcome mail's journal.

Only adds tables: nodes of the previous release keep working while this runs.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from landingpad.storage.types import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("site", sa.String(length=253), nullable=False),
        sa.Column("signup_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("dispatched", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(["signup_id"], ["signups.id"],
                                name=op.f("fk_events_signup_id_signups"), ondelete="CASCADE",
                                onupdate="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_dispatched", "events", ["dispatched", "id"])
    op.create_index("ix_events_signup_id", "events", ["signup_id"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=2000), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"],
                                name=op.f("fk_deliveries_event_id_events"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("event_id", "endpoint", name=op.f("uq_deliveries_event_id")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_deliveries_state", "deliveries", ["state", "next_attempt_at"])
    op.create_table(
        "welcomes",
        sa.Column("signup_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["signup_id"], ["signups.id"],
                                name=op.f("fk_welcomes_signup_id_signups"), ondelete="CASCADE",
                                onupdate="CASCADE"),
        sa.PrimaryKeyConstraint("signup_id", name=op.f("pk_welcomes")),
    )


def downgrade():
    op.drop_table("welcomes")
    op.drop_index("ix_deliveries_state", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_events_signup_id", table_name="events")
    op.drop_index("ix_events_dispatched", table_name="events")
    op.drop_table("events")
