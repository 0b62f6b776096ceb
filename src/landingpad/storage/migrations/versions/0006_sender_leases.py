"""Leases of running announcement senders (to spot a dead sender on another host).

Only adds a table: nodes of the previous release keep working while this runs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from landingpad.storage.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "senders",
        sa.Column("identity", sa.String(length=100), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("identity", name=op.f("pk_senders")),
    )


def downgrade():
    op.drop_table("senders")
