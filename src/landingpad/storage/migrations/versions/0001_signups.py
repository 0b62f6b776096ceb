"""Sign-ups and consent texts.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from landingpad.storage.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "signups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=253), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("interests", sa.JSON(), nullable=False),
        sa.Column("consent_version", sa.String(length=64), nullable=False),
        sa.Column("consented_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", UTCDateTime(), nullable=True),
        sa.Column("unsubscribed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signups")),
        sa.UniqueConstraint("site", "email", name=op.f("uq_signups_site")),
    )
    op.create_index("ix_signups_created_at", "signups", ["created_at"])
    op.create_index("ix_signups_email", "signups", ["email"])
    op.create_table(
        "consent_texts",
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("first_used_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_consent_texts")),
    )


def downgrade():
    op.drop_table("consent_texts")
    op.drop_index("ix_signups_email", table_name="signups")
    op.drop_index("ix_signups_created_at", table_name="signups")
    op.drop_table("signups")
