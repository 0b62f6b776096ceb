"""One announcement's recipient rows as a queue that any number of senders share.

A sender claims a small batch, and gives back what it didn't start when it
stops. Rows held by a sender that died are recovered: `claimed` back to
pending, `sending` to unknown (the server may have that message: never resent
by itself).

The two databases differ in two ways, both here: every write runs inside
``write()`` (SQLite: one writer at a time, taken before the transaction so two
senders can't deadlock on SQLite's own lock; PostgreSQL: nothing), and a
claim locks its rows with FOR UPDATE SKIP LOCKED on PostgreSQL (SQLite's
writes are serialised already).
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractContextManager

from sqlalchemy import ColumnElement, Engine, Select, case, func, literal, select, update
from sqlalchemy.orm import Session

from landingpad.announce.lease import Lease, alive, drop_stale
from landingpad.storage.engine import write_lock
from landingpad.storage.models import Recipient, RecipientState
from landingpad.storage.types import utcnow

# How soon to look again for pending rows another sender's claim holds right now.
RECHECK_SECONDS = 0.05


class Queue:
    def __init__(self, engine: Engine, announcement_id: int, lease: Lease) -> None:
        self.engine = engine
        self.announcement_id = announcement_id
        self.lease = lease

    # -- the dialect's differences ---------------------------------------------------------
    def write(self) -> AbstractContextManager[None]:
        """Around every write transaction of a sender (the lease is read and written inside)."""
        return write_lock(self.engine)

    def _locked(self, query: Select) -> Select:
        if self.engine.dialect.name == "postgresql":
            return query.with_for_update(skip_locked=True)
        return query

    # -- the queue -------------------------------------------------------------------------
    def _mine(self) -> ColumnElement[bool]:
        return Recipient.announcement_id == self.announcement_id

    def recover(self, session: Session) -> int:
        """Rows of dead senders: `claimed` back to pending, `sending` to unknown.

        Each row changes only if it is still as it was read (another sender may
        have recovered it, and claimed it, since), and all of it inside write():
        a write begun outside the lock would hold SQLite's while another sender
        holding ours waits for it.
        """
        with self.write():
            held = session.execute(select(Recipient.id, Recipient.state, Recipient.claimed_by)
                                   .where(self._mine(), Recipient.state.in_(
                                       (RecipientState.CLAIMED, RecipientState.SENDING)))).all()
            changed = 0
            for row_id, state, claimed_by in held:
                if self.lease.holds(claimed_by) or alive(session, claimed_by):
                    continue
                values: dict[str, object] = {"state": RecipientState.PENDING,
                                             "claimed_by": None}
                if state == RecipientState.SENDING:
                    values = {"state": RecipientState.UNKNOWN, "claimed_by": None,
                              "last_error": "the sender stopped while handing this "
                                            "message over"}
                changed += session.execute(
                    update(Recipient)
                    .where(Recipient.id == row_id, Recipient.state == state,
                           Recipient.claimed_by == claimed_by)
                    .values(values).execution_options(synchronize_session=False)).rowcount
            # Stale leases: their senders are gone, and their rows were just taken over.
            drop_stale(session)
            self.lease.beat(session)
            session.commit()
        return changed

    def claim(self, session: Session, batch: int) -> list[Recipient]:
        """Up to ``batch`` due pending rows, now this sender's (`claimed`), in id order."""
        now = utcnow()
        due = self._locked(
            select(Recipient.id)
            .where(self._mine(), Recipient.state == RecipientState.PENDING,
                   Recipient.next_attempt_at.is_(None) | (Recipient.next_attempt_at <= now))
            .order_by(Recipient.id).limit(batch))
        # Two steps in one transaction: lock the ids, then update exactly those. (As a
        # subquery of the UPDATE, PostgreSQL may re-run the LIMIT query per row and
        # claim far more than a batch.)
        with self.write():
            ids = list(session.scalars(due))
            if ids:
                session.execute(update(Recipient)
                                .where(Recipient.id.in_(ids),
                                       Recipient.state == RecipientState.PENDING)
                                .values(state=RecipientState.CLAIMED,
                                        claimed_by=self.lease.identity)
                                .execution_options(synchronize_session=False))
            # Renewed here too: a sender waiting long for retries still claims (and is
            # seen alive by senders on other hosts), though it commits no message.
            self.lease.beat(session)
            session.commit()
        return list(session.scalars(select(Recipient).where(
            self._mine(), Recipient.state == RecipientState.CLAIMED,
            Recipient.claimed_by == self.lease.identity).order_by(Recipient.id)))

    def release(self, session: Session) -> None:
        """Give back what this sender claimed and didn't start, and its lease (a clean stop).

        The UPDATE runs inside write() like every write here: run before it, it would
        hold SQLite's lock while waiting for ours, and deadlock with another sender
        doing the opposite.
        """
        with self.write():
            session.execute(update(Recipient).where(
                self._mine(), Recipient.state == RecipientState.CLAIMED,
                Recipient.claimed_by == self.lease.identity)
                .values(state=RecipientState.PENDING, claimed_by=None)
                .execution_options(synchronize_session=False))
            self.lease.give_back(session)
            session.commit()

    def next_due_in(self, session: Session, peers: Collection[str] = ()) -> float | None:
        """Seconds until a pending row may be claimed, or None when nothing is left to send.

        Pending rows can be momentarily unclaimable (another sender's claim holds
        them): those are looked at again soon, not taken for "done". So are rows that
        ``peers`` (the other senders of this run, still at work) hold: a peer whose
        connection is refused gives its rows back.
        """
        pending = Recipient.state == RecipientState.PENDING
        held = Recipient.claimed_by.in_(peers) & Recipient.state.in_(
            (RecipientState.CLAIMED, RecipientState.SENDING))
        # One statement, one snapshot: a peer's row going from held to pending between
        # two reads would be seen by neither.
        count, soonest, unset, peers_hold = session.execute(select(
            func.count(case((pending, 1))),
            func.min(case((pending, Recipient.next_attempt_at))),
            func.count(case((pending & Recipient.next_attempt_at.is_(None), 1))),
            func.count(case((held, 1))) if peers else literal(0),
        ).where(self._mine())).one()
        session.rollback()  # end the read: don't hold a snapshot while waiting
        if not count:
            return RECHECK_SECONDS if peers_hold else None
        if soonest is None or unset:
            return RECHECK_SECONDS
        return max(RECHECK_SECONDS, (soonest - utcnow()).total_seconds())
