"""Where an imported sign-up's consent was given: ``signups.source``.

Only adds a nullable column (no rebuild, on SQLite either): nodes of the previous
release keep working while this runs, and their rows have no source (the form).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("signups", sa.Column("source", sa.String(length=200), nullable=True))


def downgrade():
    # A rebuild on SQLite: keep AUTOINCREMENT (reflection does not see it).
    with op.batch_alter_table("signups", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("source")
