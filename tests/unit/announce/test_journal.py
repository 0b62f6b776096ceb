"""A sender's row changes: staged on the row at once, written (with the lease) by one commit,
which can run on a thread of its own while the caller talks to the mail server."""

import threading

import sqlalchemy as sa

from landingpad.announce.journal import Journal
from landingpad.announce.lease import Lease
from landingpad.announce.queue import Queue
from landingpad.storage import session_factory
from landingpad.storage.engine import make_engine
from landingpad.storage.models import Recipient, RecipientState, SenderLease


def outside(app, email):
    """What another connection sees: only what was committed."""
    engine = make_engine(app.config["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT state, attempts FROM recipients WHERE email = :e"),
                                {"e": email}).one()
    finally:
        engine.dispose()


def journal(app, ident):
    """This sender's journal, holding every row of the announcement (as its claim would)."""
    with session_factory(app)() as db:
        db.execute(sa.update(Recipient).where(Recipient.announcement_id == ident)
                   .values(claimed_by="me:1:a"))
        db.commit()
    lease = Lease("me:1:a")
    return Journal(lease, Queue(session_factory(app).kw["bind"], ident, lease).write)


def test_a_staged_change_shows_at_once_and_is_written_by_the_commit(app, session, rows):
    ident = rows("a@example.com")
    row = session.scalars(sa.select(Recipient)).one()
    writes = journal(app, ident)
    writes.stage(row, state=RecipientState.SENDING, attempts=1)
    assert (row.state, row.attempts) == ("sending", 1) and writes.staged == 1
    assert not session.dirty  # nothing for the ORM to flush: a Core UPDATE writes it
    assert tuple(outside(app, "a@example.com")) == ("pending", 0)
    writes.commit(session)
    assert tuple(outside(app, "a@example.com")) == ("sending", 1) and writes.staged == 0
    # The lease is renewed by the same commit, not one of its own.
    assert session.get(SenderLease, "me:1:a") is not None


def test_changes_of_several_rows_go_in_one_commit(app, session, rows):
    ident = rows("a@example.com", "b@example.com")
    a, b = session.scalars(sa.select(Recipient).order_by(Recipient.id)).all()
    writes = journal(app, ident)
    writes.stage(a, state=RecipientState.SENT, claimed_by=None)
    writes.stage(b, state=RecipientState.SENDING, attempts=1)
    writes.commit(session)
    assert outside(app, "a@example.com").state == "sent"
    assert tuple(outside(app, "b@example.com")) == ("sending", 1)


def test_a_background_commit_runs_on_its_own_thread_and_is_done_with_its_future(
        app, session, rows):
    ident = rows("a@example.com")
    row = session.scalars(sa.select(Recipient)).one()
    writes = journal(app, ident)
    threads = []
    original = writes.commit
    writes.commit = lambda s: (threads.append(threading.current_thread().name), original(s))
    writes.stage(row, state=RecipientState.SENDING, attempts=1)
    future = writes.commit_in_background(session)
    future.result(timeout=10)
    assert outside(app, "a@example.com").state == "sending"
    assert threads and threads[0].startswith("commit")
    writes.close()


def test_a_row_another_sender_took_over_is_not_written_and_stops_this_one(app, session, rows):
    import pytest

    from landingpad.announce.journal import LostClaim

    ident = rows("a@example.com", "b@example.com")
    a, b = session.scalars(sa.select(Recipient).order_by(Recipient.id)).all()
    writes = journal(app, ident)
    # Meanwhile a sender on another host judged this one dead and took `b` over.
    with session_factory(app)() as other:
        other.execute(sa.update(Recipient).where(Recipient.email == "b@example.com")
                      .values(state="claimed", claimed_by="other:2:b"))
        other.commit()
    writes.stage(a, state=RecipientState.SENT, claimed_by=None)
    writes.stage(b, state=RecipientState.SENDING, attempts=1)
    with pytest.raises(LostClaim, match="taken over"):
        writes.commit(session)
    # Nothing of that commit was written: `b` is the other sender's, unsent here.
    assert tuple(outside(app, "a@example.com")) == ("pending", 0)
    assert tuple(outside(app, "b@example.com")) == ("claimed", 0)
    assert writes.staged == 0
