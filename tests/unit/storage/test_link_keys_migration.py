"""Migration 0007 on a database with rows in it: keys for every sign-up, old links kept
for those rows only, nothing referring to a rebuilt table lost, ids never reused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from landingpad.storage.engine import make_engine
from landingpad.storage.migrations import current, upgrade

ROW = ("INSERT INTO signups (site, email, interests, consent_version, consented_at, "
       "created_at, updated_at) VALUES ('s.example', :e, '[]', 'v', :t, :t, :t)")


@pytest.fixture
def empty_url(backend: str, request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    server: str = request.getfixturevalue("postgresql")
    name = f"m_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server.format(db="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield server.format(db=name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


def test_upgrade_keeps_every_row_and_reference_and_never_reuses_an_id(empty_url):
    engine = make_engine(empty_url)
    upgrade(engine, "0006")
    with engine.begin() as conn:
        for i in range(1, 5):
            conn.execute(sa.text(ROW), {"e": f"p{i}@example.com", "t": "2026-01-01 00:00:00"})
        conn.execute(sa.text("INSERT INTO announcements (subject, body_markdown, sites, "
                             "created_at) VALUES ('s', 'b', '[]', '2026-01-01 00:00:00')"))
        conn.execute(sa.text("INSERT INTO recipients (announcement_id, email, site, signup_id, "
                             "state, attempts) VALUES (1, 'p3@example.com', 's.example', 3, "
                             "'sent', 1)"))
        conn.execute(sa.text("DELETE FROM signups WHERE id = 4"))  # the highest id, freed
    upgrade(engine)
    assert current(engine) == "0009"
    with engine.begin() as conn:
        rows = conn.execute(sa.text("SELECT id, link_key, legacy_links FROM signups "
                                    "ORDER BY id")).all()
        assert [r.id for r in rows] == [1, 2, 3]
        assert all(r.legacy_links for r in rows)  # their id-only links keep working
        keys = [r.link_key for r in rows]
        assert len(set(keys)) == 3 and all(len(k) == 32 and int(k, 16) >= 0 for k in keys)
        # The rebuilt tables kept what refers to them (no cascade ran).
        assert conn.execute(sa.text("SELECT announcement_id, signup_id FROM recipients")
                            ).one() == (1, 3)
        assert conn.execute(sa.text("SELECT message_key FROM announcements")).scalar() is None
        # A node of the previous release inserts without the new columns: it still can,
        # and its rows honour no id-only link (SQLite may hand out an id freed at the top
        # before the upgrade once more: nothing recorded it).
        for address in ("new@example.com", "newer@example.com"):
            conn.execute(sa.text(ROW), {"e": address, "t": "2026-02-01 00:00:00"})
            new = conn.execute(sa.text("SELECT id, link_key, legacy_links FROM signups "
                                       "WHERE email = :e"), {"e": address}).one()
            assert new.id >= 4 and len(new.link_key) == 32 and not new.legacy_links
            conn.execute(sa.text("DELETE FROM signups WHERE id = :i"), {"i": new.id})
        assert new.id > 4  # and never again after the upgrade
        if engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            for table in ("signups", "announcements", "recipients"):
                sql = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE name = :t"),
                                   {"t": table}).scalar()
                assert "AUTOINCREMENT" in sql, table
        # Deleting a signup still sets its recipients' reference to NULL (foreign keys on).
        conn.execute(sa.text("DELETE FROM signups WHERE id = 3"))
        assert conn.execute(sa.text("SELECT signup_id FROM recipients")).scalar() is None
    engine.dispose()
