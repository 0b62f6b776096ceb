"""The suite's PostgreSQL databases are reused (tests/conftest.PgDatabases): a reused one
must look exactly like a fresh clone of the template, and one whose shape a test changed
must never be handed out again."""

import pytest
import sqlalchemy as sa

from landingpad.storage.engine import make_engine
from landingpad.storage.signups import store_signup

pytestmark = pytest.mark.backends("postgresql")


def sign_up(url: str, email: str) -> int:
    engine = make_engine(url)
    try:
        return store_signup(engine, site="coffee.test", email=email, interests=[],
                            consent_version="v1", consent_text="I agree",
                            address_hash="h").id
    finally:
        engine.dispose()


def counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return {table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                    for table in ("signups", "events", "consent_texts")}
    finally:
        engine.dispose()


def oid_of(pg_databases, name: str) -> int | None:
    with pg_databases.admin.connect() as conn:
        return conn.execute(sa.text("SELECT oid FROM pg_database WHERE datname = :n"),
                            {"n": name}).scalar()


def test_a_reused_database_is_empty_counts_from_one_again_and_has_a_new_name(pg_databases):
    name = pg_databases.take()
    url = pg_databases.server.format(db=name)
    first = sign_up(url, "a@example.com")
    assert sign_up(url, "b@example.com") == first + 1
    database = oid_of(pg_databases, name)
    pg_databases.give_back(name)

    again = pg_databases.take()
    assert again != name and oid_of(pg_databases, again) == database  # the same, renamed
    with pytest.raises(sa.exc.OperationalError):  # a straggler's old URL reaches nothing
        counts(url)
    url = pg_databases.server.format(db=again)
    assert counts(url) == {"signups": 0, "events": 0, "consent_texts": 0}
    assert sign_up(url, "c@example.com") == first
    pg_databases.give_back(again)


def test_a_database_whose_schema_changed_is_dropped(pg_databases):
    name = pg_databases.take()
    url = pg_databases.server.format(db=name)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE signups ADD COLUMN stray text"))
    engine.dispose()
    pg_databases.give_back(name)

    assert name not in pg_databases.free
    with pg_databases.admin.connect() as conn:
        assert not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                {"n": name}).first()


def test_a_connection_left_open_does_not_keep_the_database(pg_databases):
    name = pg_databases.take()
    free = len(pg_databases.free)
    engine = sa.create_engine(pg_databases.server.format(db=name))
    conn = engine.connect()
    conn.execute(sa.text("SELECT 1"))  # held, as a killed server's connection would be
    pg_databases.give_back(name)
    assert len(pg_databases.free) == free + 1  # emptied and kept, under a new name
    engine.dispose()
