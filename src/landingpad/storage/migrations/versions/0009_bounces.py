"""Bounces: every report read from the bounce mailbox, and each address's bounce or
complaint (keyed hashes only).

Only adds tables: nodes of the previous release keep working while this runs.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from landingpad.storage.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "bounce_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_hash", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bounce_reports")),
        sa.UniqueConstraint("message_hash", name=op.f("uq_bounce_reports_message_hash")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_bounce_reports_outcome", "bounce_reports", ["outcome", "received_at"])
    op.create_table(
        "bounces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=253), nullable=True),
        sa.Column("announcement_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["bounce_reports.id"],
                                name=op.f("fk_bounces_report_id_bounce_reports"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["announcement_id"], ["announcements.id"],
                                name=op.f("fk_bounces_announcement_id_announcements"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bounces")),
        sa.UniqueConstraint("report_id", "address_hash",
                            name=op.f("uq_bounces_report_id")),
    )
    op.create_index("ix_bounces_address", "bounces", ["address_hash", "kind", "created_at"])
    op.create_index("ix_bounces_announcement_id", "bounces", ["announcement_id"])


def downgrade():
    op.drop_index("ix_bounces_announcement_id", table_name="bounces")
    op.drop_index("ix_bounces_address", table_name="bounces")
    op.drop_table("bounces")
    op.drop_index("ix_bounce_reports_outcome", table_name="bounce_reports")
    op.drop_table("bounce_reports")
