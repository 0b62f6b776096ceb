"""SQLite's group commit: sign-ups from threads of one process share transactions and
fsyncs, and each is acknowledged only once its own commit is on disk."""

import threading

import pytest
import sqlalchemy as sa

from landingpad.migrations import upgrade
from landingpad.storage.engine import make_engine
from landingpad.storage.models import Signup
from landingpad.storage.signups import store_signup


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def store(engine, email, digest="h"):
    return store_signup(engine, site="s.example", email=email, interests=[],
                        consent_version="v1", consent_text="I agree", address_hash=digest)


def test_concurrent_sign_ups_share_commits_and_each_gets_its_row(engine):
    store(engine, "first@example.com")  # the consent text, stored on its own
    commits, stored, start = [], {}, threading.Barrier(16)
    sa.event.listen(engine, "commit", lambda conn: commits.append(1))

    def sign_up(i):
        start.wait()
        for n in range(10):
            stored[f"t{i}n{n}@example.com"] = store(engine, f"t{i}n{n}@example.com")

    threads = [threading.Thread(target=sign_up, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(stored) == 160
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.select(Signup.email, Signup.id)).all())
    assert all(rows[email] == result.id for email, result in stored.items())
    assert len({result.id for result in stored.values()}) == 160
    assert len(commits) < 160  # batched: fewer commits than sign-ups


def test_a_failed_batch_acknowledges_none_of_its_sign_ups(engine):
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
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(Signup)) == 1
    assert store(engine, "a@example.com").id  # the next batch works
