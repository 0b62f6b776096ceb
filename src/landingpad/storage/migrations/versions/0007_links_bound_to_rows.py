"""Emailed links bound to their row; ids and Message-IDs never handed out twice.

- ``signups.link_key``: random per row, carried by every confirm, unsubscribe
  and access link. Existing rows get one from the database's own generator.
- ``signups.legacy_links``: true for the rows that exist now, false for every
  later one (rows inserted meanwhile by nodes of the previous release too). A
  true row still honours the id-only links already sent to it
  (web/links.py); no later row ever does.
- ``announcements.message_key``: random per announcement, part of its
  Message-IDs. Existing announcements keep none, so their Message-IDs stay.
- SQLite: signups, announcements and recipients are rebuilt with
  AUTOINCREMENT, so a deleted row's id is never reused from now on. (Ids
  freed at the top before this ran are unknown and may come once more; the
  link keys and Message-ID keys cover that.) PostgreSQL's sequences never
  reuse one; there this migration only adds columns, so nodes of the
  previous release keep working while it runs.

On SQLite the rebuild runs with foreign keys off (migrations/env.py), or
dropping the old tables would cascade into the rows that refer to them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from landingpad.storage.types import random_key

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _signup_columns(batch) -> None:
    batch.add_column(sa.Column("link_key", sa.String(length=32), nullable=False,
                               server_default=random_key()))
    batch.add_column(sa.Column("legacy_links", sa.Boolean(), nullable=False,
                               server_default=sa.false()))


def upgrade():
    mark_legacy = sa.text("UPDATE signups SET legacy_links = :yes").bindparams(yes=True)
    if op.get_bind().dialect.name != "sqlite":
        with op.batch_alter_table("signups") as batch:
            _signup_columns(batch)
        op.execute(mark_legacy)
        op.add_column("announcements", sa.Column("message_key", sa.String(length=32)))
        return
    autoincrement = {"sqlite_autoincrement": True}
    with op.batch_alter_table("announcements", recreate="always",
                              table_kwargs=autoincrement) as batch:
        batch.add_column(sa.Column("message_key", sa.String(length=32)))
    with op.batch_alter_table("signups", recreate="always", table_kwargs=autoincrement) as batch:
        _signup_columns(batch)
    op.execute(mark_legacy)
    with op.batch_alter_table("recipients", recreate="always", table_kwargs=autoincrement):
        pass


def downgrade():
    with op.batch_alter_table("announcements") as batch:
        batch.drop_column("message_key")
    with op.batch_alter_table("signups") as batch:
        batch.drop_column("legacy_links")
        batch.drop_column("link_key")
