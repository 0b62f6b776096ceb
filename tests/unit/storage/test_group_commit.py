"""SQLite's group commit: sign-ups from threads of one process share transactions and
fsyncs, each is acknowledged only once its own commit is on disk, and a batch with a
failure is rolled back whole. On real SQLite files (and the threaded path on PostgreSQL)."""

import sqlite3
import threading
import time

import pytest
import sqlalchemy as sa

from landingpad.storage.engine import make_engine
from landingpad.storage.models import Event, Signup
from landingpad.storage.signups import group_commit, store_signup

HANG_GUARD = 60  # seconds: only to catch a hang


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def store(engine, email):
    return store_signup(engine, site="coffee.test", email=email, interests=[],
                        consent_version="v1", consent_text="I agree", address_hash="h")


def committed_emails(path):
    """What another connection (another process would see the same) finds on disk."""
    with sqlite3.connect(path) as conn:
        return {email for (email,) in conn.execute("SELECT email FROM signups")}


def run_threads(count, target):
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG_GUARD)
    assert not any(t.is_alive() for t in threads)


def test_threads_sign_ups_each_get_their_row_and_event(engine):
    """Both backends: concurrent sign-ups from threads of one process, each its own row,
    id and signup.created event, all committed once the calls return."""
    store(engine, "first@example.com")  # the consent text, stored on its own
    stored, start = {}, threading.Barrier(8)

    def sign_up(i):
        start.wait()
        for n in range(10):
            stored[f"t{i}n{n}@example.com"] = store(engine, f"t{i}n{n}@example.com")

    run_threads(8, sign_up)
    assert len(stored) == 80
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.select(Signup.email, Signup.id)).all())
        events = dict(conn.execute(sa.select(Event.signup_id, Event.kind)).all())
    assert all(rows[email] == result.id and result.created for email, result in stored.items())
    assert len({result.id for result in stored.values()}) == 80
    assert all(events[result.id] == "signup.created" for result in stored.values())


@pytest.mark.backends("sqlite")
def test_concurrent_sign_ups_share_commits_and_return_after_their_own(engine):
    store(engine, "first@example.com")
    path = engine.url.database
    commits, stored, start = [], {}, threading.Barrier(16)
    seen_on_return = []
    sa.event.listen(engine, "commit", lambda conn: commits.append(1))

    def sign_up(i):
        start.wait()
        for n in range(10):
            email = f"t{i}n{n}@example.com"
            stored[email] = store(engine, email)
            # Acknowledged only once durable: another connection already reads it.
            seen_on_return.append(email in committed_emails(path))

    run_threads(16, sign_up)
    assert len(stored) == 160
    assert all(seen_on_return) and len(seen_on_return) == 160
    assert committed_emails(path) >= set(stored)
    assert len(commits) < 160  # batched: fewer commits than sign-ups


@pytest.mark.backends("sqlite")
def test_a_failed_sign_up_fails_alone_and_the_rest_of_its_batch_is_stored(engine):
    store(engine, "first@example.com")
    path = engine.url.database
    with engine.begin() as conn:  # a real SQLite failure for one address, mid-transaction
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse AFTER INSERT ON signups WHEN NEW.email = 'bad@example.com' "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END")
    batcher = group_commit(engine)
    in_first, release = threading.Event(), threading.Event()

    def hold(connection):  # the leader of a first batch, held open while others queue
        in_first.set()
        release.wait(HANG_GUARD)
        return "held"

    outcomes = {}

    def leader(_i):
        outcomes["leader"] = batcher.submit(hold)

    def sign_up(email):
        try:
            outcomes[email] = store(engine, email)
        except Exception as exc:  # the outcome is what is checked
            outcomes[email] = exc

    first = threading.Thread(target=leader, args=(0,))
    first.start()
    assert in_first.wait(HANG_GUARD)
    queued = [threading.Thread(target=sign_up, args=(email,))
              for email in ("good@example.com", "bad@example.com", "also@example.com")]
    for t in queued:
        t.start()
    deadline = time.monotonic() + HANG_GUARD
    while len(batcher._queue) < 3 and time.monotonic() < deadline:  # all three wait
        time.sleep(0.01)
    release.set()
    for t in (first, *queued):
        t.join(HANG_GUARD)
    assert outcomes["leader"] == "held"
    # One batch held all three: the bad one raised its own error and left nothing; the
    # others were rolled back with it, then stored again in a new transaction.
    assert isinstance(outcomes["bad@example.com"], sa.exc.DBAPIError)
    assert outcomes["good@example.com"].created and outcomes["also@example.com"].created
    assert committed_emails(path) == {"first@example.com", "good@example.com",
                                      "also@example.com"}
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(Event)) == 3
    assert store(engine, "next@example.com").created  # the next batch works


@pytest.mark.backends("sqlite")
def test_a_failed_commit_acknowledges_nothing(engine):
    store(engine, "first@example.com")

    def full_disk(conn):
        raise OSError("disk I/O error")

    sa.event.listen(engine, "commit", full_disk)
    try:
        for email in ("a@example.com", "b@example.com"):
            with pytest.raises(OSError):
                store(engine, email)
    finally:
        sa.event.remove(engine, "commit", full_disk)
    assert committed_emails(engine.url.database) == {"first@example.com"}
    assert store(engine, "a@example.com").id  # the next batch works


@pytest.mark.backends("sqlite")
def test_an_interrupted_leader_gets_its_own_interruption_and_its_batch_is_rolled_back(
        engine):
    store(engine, "first@example.com")
    batcher = group_commit(engine)
    outcomes = {}

    def interrupted(connection):
        connection.exec_driver_sql("DELETE FROM signups")  # rolled back, it must be
        raise KeyboardInterrupt  # as a signal would, mid-batch

    def leader():
        try:
            batcher.submit(interrupted)
        except BaseException as exc:  # the outcome is what is checked
            outcomes["leader"] = exc

    thread = threading.Thread(target=leader)
    thread.start()
    thread.join(HANG_GUARD)
    assert isinstance(outcomes["leader"], KeyboardInterrupt)
    assert committed_emails(engine.url.database) == {"first@example.com"}


@pytest.mark.backends("sqlite")
def test_an_engine_thrown_away_is_not_kept_by_its_group_commit(database_url):
    import gc
    import weakref

    from landingpad.storage import signups

    engine = make_engine(database_url)
    store(engine, "a@example.com")  # the consent text, stored on its own
    store(engine, "b@example.com")  # through the engine's group commit
    assert engine in signups._group_commits
    gone = weakref.ref(engine)
    engine.dispose()
    del engine
    gc.collect()
    assert gone() is None
