"""The recipient rows as a queue shared by senders: claims, recovery, release, waiting."""

import os
import socket
import subprocess
from datetime import timedelta

from sqlalchemy import select

from landingpad.announce.lease import Lease
from landingpad.announce.queue import RECHECK_SECONDS, Queue
from landingpad.announce.states import counts
from landingpad.storage.models import Recipient, RecipientState, SenderLease
from landingpad.storage.types import utcnow

HOST = socket.gethostname()


def queue(app, ident, identity=None):
    from landingpad.storage import session_factory

    return Queue(session_factory(app).kw["bind"], ident,
                 Lease(identity or f"{HOST}:{os.getpid()}:{os.urandom(4).hex()}"))


def by_email(session, ident):
    session.expire_all()
    return {r.email: r for r in session.scalars(
        select(Recipient).where(Recipient.announcement_id == ident))}


def dead_sender() -> str:
    process = subprocess.Popen(["true"])
    process.wait()
    return f"{HOST}:{process.pid}:dead0001"


def test_a_claim_takes_one_batch_and_no_more(app, session, rows):
    ident = rows(*(f"b{i}@example.com" for i in range(12)))
    first, second = queue(app, ident), queue(app, ident)
    a, b = first.claim(session, 5), second.claim(session, 5)
    assert len(a) == 5 and len(b) == 5 and not {r.id for r in a} & {r.id for r in b}
    assert [r.id for r in a] == sorted(r.id for r in a) and max(r.id for r in a) < min(
        r.id for r in b)  # in id order
    assert counts(session, ident)[RecipientState.CLAIMED] == 10
    assert {r.claimed_by for r in by_email(session, ident).values()} == {
        None, first.lease.identity, second.lease.identity}


def test_a_claim_skips_rows_whose_retry_time_has_not_come(app, session, rows):
    ident = rows("now@example.com", "later@example.com")
    rows_ = by_email(session, ident)
    rows_["later@example.com"].next_attempt_at = utcnow() + timedelta(minutes=1)
    session.commit()
    assert [r.email for r in queue(app, ident).claim(session, 10)] == ["now@example.com"]


def test_a_claim_of_another_announcement_takes_nothing_of_this_one(app, session, rows):
    ident, other = rows("a@example.com"), rows("b@example.com")
    assert [r.email for r in queue(app, other).claim(session, 10)] == ["b@example.com"]
    assert counts(session, ident)[RecipientState.PENDING] == 1


def test_recovery_takes_over_only_what_dead_senders_held(app, session, rows):
    dead = dead_sender()
    running = f"{HOST}:{os.getpid()}:live0001"  # this process: alive
    ident = rows("a@example.com", "b@example.com", "c@example.com", "d@example.com",
                 "e@example.com")
    mine = queue(app, ident)
    held = {"a@example.com": (RecipientState.SENDING, dead),
            "b@example.com": (RecipientState.CLAIMED, dead),
            "c@example.com": (RecipientState.SENDING, running),
            "d@example.com": (RecipientState.CLAIMED, mine.lease.identity)}
    found = by_email(session, ident)
    for email, (state, by) in held.items():
        found[email].state, found[email].claimed_by = state, by
    session.commit()

    assert mine.recover(session) == 2
    found = by_email(session, ident)
    assert {e: (r.state, r.claimed_by) for e, r in found.items()} == {
        "a@example.com": ("unknown", None),   # may have reached the server: never resent
        "b@example.com": ("pending", None),   # never started: sent by the next claim
        "c@example.com": ("sending", running),
        "d@example.com": ("claimed", mine.lease.identity),
        "e@example.com": ("pending", None)}
    assert "stopped while handing" in found["a@example.com"].last_error
    # Recovery also starts this sender's lease.
    assert session.get(SenderLease, mine.lease.identity) is not None


def test_a_recovery_never_takes_back_a_row_another_sender_recovered_and_claimed_meanwhile(
        app, session, rows):
    from landingpad.storage import session_factory

    dead = dead_sender()
    ident = rows("a@example.com", "b@example.com")
    found = by_email(session, ident)
    found["a@example.com"].state, found["a@example.com"].claimed_by = "claimed", dead
    found["b@example.com"].state, found["b@example.com"].claimed_by = "sending", dead
    session.commit()
    slow, fast = queue(app, ident), queue(app, ident)
    engine = session_factory(app).kw["bind"]
    taken, once = [], []

    def meanwhile(conn, cursor, statement, parameters, context, executemany):
        # Right after the slow sender read the dead sender's rows, the fast one (another
        # connection) recovers them and claims `a`.
        if not once and statement.lstrip().upper().startswith("SELECT RECIPIENTS.ID"):
            once.append(True)
            with session_factory(app)() as other:
                fast.recover(other)
                taken.extend(r.email for r in fast.claim(other, 10))

    import sqlalchemy as sa

    sa.event.listen(engine, "after_cursor_execute", meanwhile)
    try:
        assert slow.recover(session) == 0  # both rows had changed since it read them
    finally:
        sa.event.remove(engine, "after_cursor_execute", meanwhile)
    assert taken == ["a@example.com"]
    found = by_email(session, ident)
    assert (found["a@example.com"].state, found["a@example.com"].claimed_by) == (
        "claimed", fast.lease.identity)
    assert (found["b@example.com"].state, found["b@example.com"].claimed_by) == ("unknown", None)


def test_a_clean_stop_gives_back_what_it_did_not_start(app, session, rows):
    ident = rows("a@example.com", "b@example.com", "c@example.com")
    mine = queue(app, ident)
    mine.recover(session)  # takes the lease
    claimed = mine.claim(session, 3)
    claimed[0].state = RecipientState.SENDING  # the one it was handing over
    session.commit()
    mine.release(session)
    assert {e: r.state for e, r in by_email(session, ident).items()} == {
        "a@example.com": "sending", "b@example.com": "pending", "c@example.com": "pending"}
    assert session.scalars(select(SenderLease)).all() == []


def test_waiting_says_when_the_next_row_is_due_or_that_nothing_is_left(app, session, rows):
    ident = rows("a@example.com", states={"a@example.com": RecipientState.SENT})
    assert queue(app, ident).next_due_in(session) is None

    ident = rows("later@example.com")
    found = by_email(session, ident)
    found["later@example.com"].next_attempt_at = utcnow() + timedelta(seconds=30)
    session.commit()
    assert 25 < queue(app, ident).next_due_in(session) <= 30

    # Due now, yet no claim found it (another sender's claim held it): look again soon.
    ident = rows("due@example.com")
    assert queue(app, ident).next_due_in(session) == RECHECK_SECONDS


def test_waiting_counts_rows_a_peer_of_this_run_holds_and_no_one_elses(app, session, rows):
    ident = rows("a@example.com", "b@example.com", states={
        "a@example.com": RecipientState.CLAIMED, "b@example.com": RecipientState.SENDING})
    found = by_email(session, ident)
    # `a` is held by a sender of this run; `b` by one of an earlier run of this very
    # pid (a container restarted: pids start again), which nobody will ever give back.
    found["a@example.com"].claimed_by = f"{HOST}:{os.getpid()}:peer0001"
    found["b@example.com"].claimed_by = f"{HOST}:{os.getpid()}:old00001"
    session.commit()
    mine = queue(app, ident)
    assert mine.next_due_in(session, {f"{HOST}:{os.getpid()}:peer0001"}) == RECHECK_SECONDS
    assert mine.next_due_in(session, {f"{HOST}:{os.getpid()}:gone0001"}) is None
    assert mine.next_due_in(session) is None  # alone: nothing of anyone else's is awaited
