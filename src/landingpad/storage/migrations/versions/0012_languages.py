"""Languages: the language of each sign-up and of each consent text shown.

Only adds nullable columns: nodes of the previous release keep working while this runs.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("signups", sa.Column("lang", sa.String(length=35), nullable=True))
    op.add_column("consent_texts", sa.Column("lang", sa.String(length=35), nullable=True))


def downgrade():
    with op.batch_alter_table("consent_texts") as batch:
        batch.drop_column("lang")
    with op.batch_alter_table("signups") as batch:
        batch.drop_column("lang")
