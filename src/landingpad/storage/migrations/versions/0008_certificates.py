"""Certificates: the queue per host, orders counted for the CA's limits, challenges, the
files every node serves (encrypted), leases.

Only adds tables: nodes of the previous release keep working while this runs.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from landingpad.storage.types import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "tls_certificates",
        sa.Column("host", sa.String(length=253), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("not_after", UTCDateTime(), nullable=True),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("renew_at", UTCDateTime(), nullable=True),
        sa.Column("ari_checked_at", UTCDateTime(), nullable=True),
        sa.Column("alerted_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("host", name=op.f("pk_tls_certificates")),
    )
    op.create_index("ix_tls_certificates_next_attempt_at", "tls_certificates",
                    ["next_attempt_at"])
    op.create_table(
        "tls_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=253), nullable=False),
        sa.Column("registered_domain", sa.String(length=253), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tls_orders")),
    )
    op.create_index("ix_tls_orders_created_at", "tls_orders", ["created_at"])
    op.create_table(
        "tls_challenges",
        sa.Column("token", sa.String(length=128), nullable=False),
        sa.Column("key_authorization", sa.Text(), nullable=False),
        sa.Column("host", sa.String(length=253), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_tls_challenges")),
    )
    op.create_table(
        "tls_files",
        sa.Column("host", sa.String(length=253), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("not_after", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("host", name=op.f("pk_tls_files")),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )


def downgrade():
    op.drop_table("leases")
    op.drop_table("tls_files")
    op.drop_table("tls_challenges")
    op.drop_index("ix_tls_orders_created_at", table_name="tls_orders")
    op.drop_table("tls_orders")
    op.drop_index("ix_tls_certificates_next_attempt_at", table_name="tls_certificates")
    op.drop_table("tls_certificates")
