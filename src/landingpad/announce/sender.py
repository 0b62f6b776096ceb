"""Sending an announcement at most once per recipient, resumable after any crash.

A sender claims a small batch (queue.py), then for each row commits `sending`,
hands the message to the transport, and commits the outcome (journal.py). A
sender that dies leaves at most one row in `sending` (one per connection: see
send.py); the next sender turns it into `unknown` (never resent by itself) and
puts the rest of the dead sender's claim back to `pending`.

One commit per message, and a message's time overlaps as much as that allows:
the commit goes to disk while the envelope is exchanged (the message itself
waits for it), and the next message is built while the server takes this one.

Call it through send_announcement (send.py), which also takes the recipient list.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field

from flask import Flask
from sqlalchemy.orm import Session

from landingpad.announce.journal import Journal
from landingpad.announce.lease import Lease, new_identity
from landingpad.announce.policy import Pacer, RetryPolicy
from landingpad.announce.queue import Queue
from landingpad.announce.recipients import Subscribed, still_subscribed
from landingpad.announce.states import Outcome
from landingpad.announce.template import Messages, Ready, Sign
from landingpad.mail.outbox import get_outbox
from landingpad.mail.transports import ConnectFailed, DeliveryError, Transport
from landingpad.storage import session_factory
from landingpad.storage.models import Announcement, Recipient, RecipientState
from landingpad.storage.types import utcnow

MAX_IDLE_WAIT = 5.0  # longest sleep while only retries later are left (stays responsive)
# No connection to the SMTP server: this many tries in a row, waiting 1, 2, 4, 8 s in
# between, then the run stops (every row still pending) with the reason.
CONNECT_ATTEMPTS = 5
CONNECT_BACKOFF = 1.0

log = logging.getLogger(__name__)


class Crew:
    """The senders of one run, side by side: which of them still work."""

    def __init__(self) -> None:
        self._working: set[str] = set()
        self._lock = threading.Lock()

    def join(self, identity: str) -> None:
        with self._lock:
            self._working.add(identity)

    def leave(self, identity: str) -> None:
        """A sender that ended (nothing left to claim, or stopped) leaves the crew."""
        with self._lock:
            self._working.discard(identity)

    def leave_unless_last(self, identity: str) -> bool:
        """Leave the crew, unless no other sender would be left (then stay and retry)."""
        with self._lock:
            if self._working - {identity}:
                self._working.discard(identity)
                return True
            return False

    def others(self, identity: str) -> frozenset[str]:
        """The other senders still at work: rows they hold may come back to the queue."""
        with self._lock:
            return frozenset(self._working - {identity})


@dataclass
class Sender:
    app: Flask
    announcement_id: int
    transport: Transport  # closed when the run ends
    rate: float | None = None  # messages per second
    batch: int = 20
    retry_delay: float = 60.0  # first retry after a 4xx; doubles each time
    max_attempts: int = 5
    on_progress: Callable[[str], None] | None = None  # a row's new state, after each row
    identity: str = field(default_factory=new_identity)
    sign: Sign | None = None  # the app's DKIM keys unless given
    pacer: Pacer | None = None  # shared by the senders of one run; else one of ``rate``
    stop: threading.Event = field(default_factory=threading.Event)  # set: stop cleanly
    crew: Crew | None = None  # the senders of this run, if more than one
    outcome: Counter[Outcome] = field(default_factory=Counter)
    retired: bool = False  # its connection was refused while others still had theirs
    connect_failures: int = 0  # connections refused in a row (reset once the server answers)
    answered: bool = False  # the server has answered this sender at least once

    def __post_init__(self) -> None:
        self.sessions = session_factory(self.app)
        self.lease = Lease(self.identity)
        self.queue = Queue(self.sessions.kw["bind"], self.announcement_id, self.lease)
        self.journal = Journal(self.lease, self.queue.write)
        if self.pacer is None:
            self.pacer = Pacer(self.rate)
        if self.crew is not None:
            self.crew.join(self.identity)
        self.retry = RetryPolicy(self.retry_delay, self.max_attempts)
        if self.sign is None:
            self.sign = get_outbox(self.app).signer.sign_as  # as every other mail

    def run(self) -> Counter[Outcome]:
        """Send every due row until none is left (retries included); LookupError for an
        announcement that doesn't exist."""
        with self.app.app_context(), self.sessions() as session:
            announcement = session.get(Announcement, self.announcement_id)
            if announcement is None:
                raise LookupError(f"no announcement {self.announcement_id}")
            messages = Messages(self.app, announcement, self.sign)
            self.queue.recover(session)
            try:
                while not self.stop.is_set() and not self.retired:
                    rows = self.queue.claim(session, self.batch)
                    if not rows:
                        wait = self.queue.next_due_in(
                            session, self.crew.others(self.identity) if self.crew else ())
                        if wait is None:
                            break
                        self.stop.wait(min(wait, MAX_IDLE_WAIT))
                        continue
                    subscribed = still_subscribed(session, (r.signup_id for r in rows))
                    self._send_batch(session, messages, rows, subscribed)
                    self.journal.commit(session)  # the batch's last outcome
            finally:
                try:
                    self.journal.commit(session)  # keep outcomes known so far (a clean stop)
                except Exception:
                    session.rollback()
                self.queue.release(session)
                if self.crew is not None:  # after the release: its rows are pending now
                    self.crew.leave(self.identity)
                self.transport.close()
                self.journal.close()
        return self.outcome

    def _send_batch(self, session: Session, messages: Messages, rows: list[Recipient],
                    subscribed: dict[int, Subscribed]) -> None:
        """Send claimed rows in order; each message is built while the server takes the
        one before it (no thread: between writing a message and reading its reply)."""

        def prepare(row: Recipient) -> Ready:
            sub = subscribed.get(row.signup_id)
            return messages.prepare(row, sub.link_key if sub else None, sub.lang if sub else None)

        ready: Ready | BaseException = prepare(rows[0])
        for index, row in enumerate(rows):
            self.pacer.wait()  # returns at once on stop (its sleep is stop.wait)
            if self.stop.is_set():
                return  # the rest of the claim is given back (release)
            if isinstance(ready, BaseException):
                raise ready
            upcoming = rows[index + 1] if index + 1 < len(rows) else None
            built: list[Ready | BaseException] = []

            def ahead(upcoming: Recipient | None = upcoming,
                      built: list[Ready | BaseException] = built) -> None:
                if upcoming is not None:
                    try:
                        built.append(prepare(upcoming))
                    except BaseException as exc:  # raised on that row's turn
                        built.append(exc)

            self._send_one(session, row, ready, ahead)
            if self.on_progress:
                self.on_progress(row.state)
            if self.retired:
                return
            if upcoming is not None:
                ready = built[0] if built else prepare(upcoming)

    def _send_one(self, session: Session, row: Recipient, ready: Ready,
                  ahead: Callable[[], None]) -> None:
        """Send one row's message; ``ahead`` runs while the server takes it."""
        if ready.error is not None:
            # Committed with the next state change.
            self.journal.stage(row, state=RecipientState.FAILED, claimed_by=None,
                               last_error=ready.error)
            self.outcome[Outcome.FAILED] += 1
            ahead()
            return
        self.journal.stage(row, state=RecipientState.SENDING, attempts=row.attempts + 1)
        # Durable before the server sees a byte of the message. The same commit records
        # the outcome of the previous message: one commit per message, and a crash
        # between a send and this commit leaves that message in `sending`, so it becomes
        # `unknown`. The commit goes to disk while MAIL, RCPT and DATA go back and forth
        # (only the message itself waits for it); the session is left alone meanwhile.
        committed = self.journal.commit_in_background(session)
        try:
            self.transport.send_raw(*ready.envelope, ready.data, ready.message_id,
                                    before_data=committed.result, before_reply=ahead)
        except BaseException as exc:
            wait_for([committed])
            if committed.exception() is not None:
                raise committed.exception() from None  # not sent: the commit failed
            self._failed(session, row, exc)
        else:
            self.journal.stage(row, state=RecipientState.SENT, sent_at=utcnow(),
                               claimed_by=None)
            self.outcome[Outcome.SENT] += 1
            self.connect_failures, self.answered = 0, True

    def _failed(self, session: Session, row: Recipient, exc: BaseException) -> None:
        if not isinstance(exc, DeliveryError):
            # Interrupted (Ctrl-C, a bug) mid-handover: the server may have it.
            self.journal.stage(row, state=RecipientState.UNKNOWN, claimed_by=None,
                               last_error="interrupted while handing this over")
            self.journal.commit(session)
            raise exc
        if isinstance(exc, ConnectFailed):
            # No connection: nothing of the message went, and the recipient is not at
            # fault. The row goes back as it was (no attempt spent), at once: a kill
            # during the wait below must not leave it `sending`.
            self.journal.stage(row, state=RecipientState.PENDING, claimed_by=None,
                               attempts=row.attempts - 1)
            self.journal.commit(session)
            if not self.answered and self.crew is not None \
                    and self.crew.leave_unless_last(self.identity):
                # Never let in while other connections send (a relay's limit on
                # connections, say): this sender retires, the others take its rows.
                self.retired = True
                log.warning("one SMTP connection of this announcement was refused; the "
                            "others go on: %s", exc.reply)
                return
            # The server can't be reached (a wrong host, a server down): wait and try
            # again a few times, then stop, rather than mark the whole list failed.
            self.connect_failures += 1
            if self.connect_failures >= CONNECT_ATTEMPTS:
                raise exc
            self.stop.wait(CONNECT_BACKOFF * 2 ** (self.connect_failures - 1))
            return
        self.connect_failures, self.answered = 0, True  # the server answered: connected
        decision = self.retry.after(exc, row.attempts)
        self.journal.stage(row, **decision.values())
        self.outcome[decision.outcome] += 1
