import os
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from landingpad.storage.engine import EngineHolder, make_engine, normalise_url
from landingpad.storage.migrations import current, upgrade
from landingpad.storage.models import Base, Signup
from landingpad.storage.signups import iter_signups, record_signup


def test_sqlite_connections_are_durable_and_concurrent(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'x.db'}")
    for _ in range(2):  # every pooled connection, not only the first
        with engine.connect() as conn:
            pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
            assert pragma("journal_mode") == "wal"
            assert pragma("synchronous") == 2  # FULL
            assert pragma("busy_timeout") == 10000
            assert pragma("foreign_keys") == 1
    engine.dispose()


def test_postgresql_urls_use_psycopg3():
    assert normalise_url("postgresql://u:p@h/db").startswith("postgresql+psycopg://u:p@h/db")
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_migrations_match_the_models_and_are_idempotent(database_url):
    engine = make_engine(database_url)
    upgrade(engine)  # already at head: a no-op
    assert current(engine) == "0009"
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_fresh_database_upgrade(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert current(engine) is None
    upgrade(engine)
    assert set(sa.inspect(engine).get_table_names()) >= {"signups", "consent_texts"}
    engine.dispose()


def test_upsert_keeps_one_row_and_the_first_signup_time(database_url):
    engine = make_engine(database_url)
    t1, t2 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    with sa.orm.Session(engine) as session:
        for when, interests in ((t1, ["a"]), (t2, ["b", "c"])):
            record_signup(session, site="s.example", email="x@example.com", interests=interests,
                          consent_version="v1", consent_text="I agree", now=when)
        row = session.scalars(select(Signup)).one()
        assert (row.created_at, row.consented_at, row.interests) == (t1, t2, ["b", "c"])
        assert row.created_at.tzinfo is UTC
        count = select(sa.func.count()).select_from(Signup)
        assert session.scalar(count) == 1
        assert session.scalar(count.where(Signup.site == "other.example")) == 0
        assert [r.email for r in iter_signups(session, "s.example")] == ["x@example.com"]
    engine.dispose()


def test_no_column_can_hold_a_network_address():
    names = {c.name for table in Base.metadata.tables.values() for c in table.columns}
    assert not names & {"ip", "ip_address", "remote_addr", "user_agent", "address"}


def test_forked_child_never_reuses_the_parents_connections(tmp_path):
    holder = EngineHolder(f"sqlite:///{tmp_path / 'fork.db'}")
    with holder.engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.commit()
    parent_pool = holder.engine.pool
    parent_conn_ids = {id(rec) for rec in list(parent_pool._pool.queue)}
    pid = os.fork()
    if pid == 0:  # child: the inherited pool must be dropped before first use
        ok = False
        try:
            engine = holder.engine
            with engine.connect() as conn:
                ok = (id(conn.connection._connection_record) not in parent_conn_ids
                      and conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0)
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with holder.engine.connect() as conn:  # the parent's pool still works
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    holder.dispose()


@pytest.mark.parametrize("naive", [datetime(2026, 1, 1)])
def test_naive_datetimes_are_refused(tmp_path, naive):
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    upgrade(engine)
    with sa.orm.Session(engine) as session, pytest.raises(sa.exc.StatementError):
        record_signup(session, site="s.example", email="x@example.com", interests=[],
                      consent_version="v", consent_text="t", now=naive)
    engine.dispose()


def test_sqlite_writers_queue_on_a_kernel_lock(tmp_path):
    import fcntl

    from landingpad.storage.engine import write_lock

    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    lock_path = tmp_path / "w.db.writelock"
    with write_lock(engine):
        fd = os.open(lock_path, os.O_RDWR)
        with pytest.raises(BlockingIOError):  # another holder can't take it meanwhile
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released after the transaction
    os.close(fd)
    engine.dispose()
    assert write_lock(make_engine("postgresql+psycopg://u@/d")).__class__.__name__ == "nullcontext"


def test_a_failed_statement_never_shows_the_addresses_it_was_bound_to(database_url):
    engine = make_engine(database_url)
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as info:
        conn.execute(sa.text("SELECT * FROM no_such_table WHERE email = :e"),
                     {"e": "secret.person@example.com"})
    engine.dispose()
    assert "secret.person" not in str(info.value)


def test_one_statement_stores_a_sign_up_and_says_if_the_address_is_suppressed(database_url):
    from landingpad.storage.models import Suppression
    from landingpad.storage.signups import store_signup

    engine = make_engine(database_url)
    with sa.orm.Session(engine) as session:
        session.add(Suppression(address_hash="h-gone", reason="forgotten",
                                created_at=datetime(2026, 1, 1, tzinfo=UTC)))
        session.commit()

    def store(email, digest):
        return store_signup(engine, site="s.example", email=email, interests=["a"],
                            consent_version="v1", consent_text="I agree", address_hash=digest)

    fresh, gone = store("new@example.com", "h-new"), store("gone@example.com", "h-gone")
    assert (fresh.confirmed, fresh.suppressed, gone.suppressed) == (False, False, True)
    again = store("new@example.com", "h-new")  # the same row, its key unchanged
    with sa.orm.Session(engine) as session:
        row = session.get(Signup, fresh.id)
        assert (again.id, again.link_key) == (fresh.id, fresh.link_key) == (row.id, row.link_key)
        assert session.scalar(select(sa.func.count()).select_from(Signup)) == 2
    engine.dispose()
