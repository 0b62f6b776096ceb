"""Sending an announcement at most once per recipient, resumable after any crash.

A sender claims a small batch (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: writes
serialised), then for each row commits `sending`, hands the message to the
transport, and commits the outcome. A sender that dies leaves at most one row
in `sending`; the next sender turns it into `unknown` (never resent by itself)
and puts the rest of the dead sender's claim back to `pending`.

One commit per message, and a message's time overlaps as much as that allows:
the commit goes to disk while the envelope is exchanged (the message itself
waits for it), the next message is built while the server takes this one, and
a row's state changes are Core UPDATEs rather than an ORM flush.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from datetime import timedelta
from email.errors import MessageError
from email.utils import format_datetime

from flask import Flask
from sqlalchemy import Update, bindparam, delete, func, select, update
from sqlalchemy.orm import Session, object_session
from sqlalchemy.orm.attributes import set_committed_value

from landingpad.announce.compose import render_email
from landingpad.mail.message import build_message, envelope_address
from landingpad.mail.transports import DeliveryError, Transport
from landingpad.sites import Site, get_registry
from landingpad.storage import session_factory
from landingpad.storage.engine import write_lock
from landingpad.storage.models import Announcement, Recipient, SenderLease, Signup
from landingpad.storage.signups import link_key_of
from landingpad.storage.types import utcnow
from landingpad.web.links import unsubscribe_token

STATES = ("pending", "claimed", "sending", "sent", "failed", "unknown")
BEAT_SECONDS = 30.0  # how often a running sender renews its lease
LEASE = timedelta(minutes=5)  # a lease older than this: that sender died
_UNSUBSCRIBE_SLOT = "__landingpad_unsubscribe_url__"
_TO_SLOT = "recipient-slot@landingpad.invalid"
_ID_SLOT = "<message-id-slot@landingpad.invalid>"
_RECIPIENTS = Recipient.__table__
_updates: dict[frozenset[str], Update] = {}


def _update_of(columns: frozenset[str]) -> Update:
    """A Core UPDATE of one recipient row's ``columns``, built once per set of columns."""
    if columns not in _updates:
        _updates[columns] = update(_RECIPIENTS).where(
            _RECIPIENTS.c.id == bindparam("row_id")).values(
            {name: bindparam(name, type_=_RECIPIENTS.c[name].type) for name in columns})
    return _updates[columns]


@dataclass
class Ready:
    """A row's message, built ahead: its bytes and envelope, or why it can't go."""

    mail: SiteMail | None = None
    data: bytes = b""
    envelope: tuple[str, str] = ("", "")
    error: str | None = None


@dataclass
class SiteMail:
    """One site's message for this announcement, built once.

    ``template`` is the finished message as bytes with slots for the address,
    the Message-ID, the date and the unsubscribe URL: the email package builds
    and checks it once, and each recipient costs a few byte replacements. It
    is None when a slot didn't survive flattening verbatim (an encoded body),
    and then each message is built in full.
    """

    site: Site
    text: str
    html: str
    template: bytes | None
    date: bytes


def message_id(announcement: Announcement, recipient_id: int, domain: str) -> str:
    """Fixed per (announcement, recipient): a duplicate would be visible at the receiver.

    Unique for good: ids are never reused, and the announcement's random key keeps
    them apart from another database's (a reinstall). Announcements made before
    the key existed keep their old form.
    """
    key = f".{announcement.message_key}" if announcement.message_key else ""
    return f"<announce-{announcement.id}-{recipient_id}{key}@{domain}>"


def counts(session: Session, announcement_id: int) -> dict[str, int]:
    rows = session.execute(select(Recipient.state, func.count())
                           .where(Recipient.announcement_id == announcement_id)
                           .group_by(Recipient.state)).all()
    found = dict(rows)
    return {state: found.get(state, 0) for state in STATES}


def _alive(session: Session, claimed_by: str | None) -> bool:
    """Whether the sender that claimed a row still runs.

    On this host: its pid. On another host: its lease, renewed every
    BEAT_SECONDS while it runs. No lease at all is a sender of an older release,
    which keeps none: not ours to judge.
    """
    if not claimed_by:
        return False
    host, _, rest = claimed_by.partition(":")
    if host != socket.gethostname():
        lease = session.get(SenderLease, claimed_by)
        return lease is None or lease.seen_at > utcnow() - LEASE
    try:
        os.kill(int(rest.split(":")[0]), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Sender:
    app: Flask
    announcement_id: int
    transport: Transport
    rate: float | None = None  # messages per second
    batch: int = 20
    retry_delay: float = 60.0  # first retry after a 4xx; doubles each time
    max_attempts: int = 5
    on_progress: Callable[[str], None] | None = None
    identity: str = field(default_factory=lambda: (f"{socket.gethostname()}:{os.getpid()}:"
                                                   f"{uuid.uuid4().hex[:8]}"))
    outcome: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.sessions = session_factory(self.app)
        self.engine = self.sessions.kw["bind"]
        self._rendered: dict[str, SiteMail | None] = {}
        self._link_keys: dict[int, str] = {}
        self._staged: list[tuple[Recipient, dict]] = []
        self._last_beat = -BEAT_SECONDS
        # Each `sending` commit runs here while the envelope goes to the server.
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit")
        signer = getattr(self.transport, "signer", None)
        # Signed like every other mail of the site (the key of its From domain).
        self._sign = getattr(signer, "sign_as", lambda data, from_address: data)

    # -- state changes, each its own short transaction -----------------------------
    def _commit(self, session: Session) -> None:
        with write_lock(self.engine):  # the lease is read and written inside it too
            self._beat(session)
            if self._staged:
                connection = session.connection()
                for row, values in self._staged:
                    connection.execute(_update_of(frozenset(values)),
                                       {"row_id": row.id, **values})
                self._staged = []
            session.commit()

    def _stage(self, row: Recipient, **values: object) -> None:
        """Change a row for the next commit: one Core UPDATE (the ORM's flush of a
        changed object cost more than the rest of a message). The object shows the
        values at once, and the ORM sees nothing to flush."""
        for name, value in values.items():
            set_committed_value(row, name, value)
        self._staged.append((row, values))

    def _beat(self, session: Session, every: float = BEAT_SECONDS) -> None:
        """Renew this sender's lease (in the next commit), at most every ``every`` s."""
        if time.monotonic() - self._last_beat < every:
            return
        self._last_beat = time.monotonic()
        lease = session.get(SenderLease, self.identity)
        if lease is None:
            session.add(SenderLease(identity=self.identity, seen_at=utcnow()))
        else:
            lease.seen_at = utcnow()

    def recover(self, session: Session) -> int:
        """Rows of dead senders: `claimed` back to pending, `sending` to unknown."""
        rows = session.scalars(select(Recipient).where(
            Recipient.announcement_id == self.announcement_id,
            Recipient.state.in_(("claimed", "sending")))).all()
        changed = 0
        for row in rows:
            if row.claimed_by == self.identity or _alive(session, row.claimed_by):
                continue
            if row.state == "sending":
                row.state = "unknown"
                row.last_error = "the sender stopped while handing this message over"
            else:
                row.state = "pending"
            row.claimed_by = None
            changed += 1
        with write_lock(self.engine):
            # Stale leases: their senders are gone, and their rows were just taken over.
            session.execute(delete(SenderLease).where(SenderLease.seen_at < utcnow() - LEASE))
            self._beat(session)
            session.commit()
        return changed

    def claim(self, session: Session) -> list[Recipient]:
        now = utcnow()
        due = (select(Recipient.id)
               .where(Recipient.announcement_id == self.announcement_id,
                      Recipient.state == "pending",
                      (Recipient.next_attempt_at.is_(None)) | (Recipient.next_attempt_at <= now))
               .order_by(Recipient.id).limit(self.batch))
        if self.engine.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        # Two steps in one transaction: lock the ids, then update exactly those. (As a
        # subquery of the UPDATE, PostgreSQL may re-run the LIMIT query per row and
        # claim far more than a batch.)
        with write_lock(self.engine):
            ids = list(session.scalars(due))
            if ids:
                session.execute(update(Recipient)
                                .where(Recipient.id.in_(ids), Recipient.state == "pending")
                                .values(state="claimed", claimed_by=self.identity)
                                .execution_options(synchronize_session=False))
            session.commit()
        return list(session.scalars(select(Recipient).where(
            Recipient.announcement_id == self.announcement_id, Recipient.state == "claimed",
            Recipient.claimed_by == self.identity).order_by(Recipient.id)))

    def release(self, session: Session) -> None:
        """Give back what this sender claimed and didn't start (a clean stop).

        The UPDATE runs inside the write lock like every write here: run before
        it, it would hold SQLite's lock while waiting for ours, and deadlock with
        another sender doing the opposite.
        """
        with write_lock(self.engine):
            session.execute(update(Recipient).where(
                Recipient.announcement_id == self.announcement_id,
                Recipient.state == "claimed", Recipient.claimed_by == self.identity)
                .values(state="pending", claimed_by=None)
                .execution_options(synchronize_session=False))
            session.execute(delete(SenderLease).where(SenderLease.identity == self.identity))
            session.commit()

    # -- messages ------------------------------------------------------------------------
    def _site_mail(self, announcement: Announcement, domain: str) -> SiteMail | None:
        if domain not in self._rendered:
            site = get_registry(self.app).site_for_host(domain)
            if site is None:
                self._rendered[domain] = None
                return None
            text, html = render_email(site, announcement.subject, announcement.body_markdown,
                                      _UNSUBSCRIBE_SLOT)
            probe = build_message(site, _TO_SLOT, announcement.subject, text, html, _ID_SLOT,
                                  _UNSUBSCRIBE_SLOT)
            data = probe.as_bytes()
            date = f"Date: {probe['Date']}\r\n".encode()
            urls = 1 + text.count(_UNSUBSCRIBE_SLOT) + html.count(_UNSUBSCRIBE_SLOT)
            intact = (data.count(_TO_SLOT.encode()) == 1 and data.count(_ID_SLOT.encode()) == 1
                      and data.count(date) == 1
                      and data.count(_UNSUBSCRIBE_SLOT.encode()) == urls)
            self._rendered[domain] = SiteMail(site, text, html, data if intact else None, date)
        return self._rendered[domain]

    def _bytes(self, announcement: Announcement, row: Recipient, mail: SiteMail) -> bytes:
        site = mail.site
        link_key = self._link_keys.get(row.signup_id)
        if link_key is None:  # a row outside the batch just read
            link_key = link_key_of(object_session(row), row.signup_id) or ""
        url = (f"{self.app.config['PUBLIC_SCHEME']}://{site.domain}/unsubscribe/"
               f"{unsubscribe_token(row.signup_id, link_key)}")
        mid = message_id(announcement, row.id, site.domain)
        if mail.template is not None and row.email.isascii():
            data = (mail.template.replace(_TO_SLOT.encode(), row.email.encode())
                    .replace(_ID_SLOT.encode(), mid.encode())
                    .replace(_UNSUBSCRIBE_SLOT.encode(), url.encode())
                    .replace(mail.date, f"Date: {format_datetime(utcnow())}\r\n".encode()))
        else:
            data = build_message(site, row.email, announcement.subject,
                                 mail.text.replace(_UNSUBSCRIBE_SLOT, url),
                                 mail.html.replace(_UNSUBSCRIBE_SLOT, url), mid, url).as_bytes()
        return self._sign(data, site.from_address)

    def _prepare(self, announcement: Announcement, row: Recipient,
                 unsubscribed: dict[int, bool]) -> Ready:
        """A row's message and envelope, or why it must not be sent."""
        mail = self._site_mail(announcement, row.site)
        if unsubscribed.get(row.signup_id, True) or mail is None:
            return Ready(error=("unsubscribed or deleted before sending" if mail
                                else f"{row.site} is no longer configured"))
        try:
            data = self._bytes(announcement, row, mail)
            envelope = (envelope_address(mail.site.from_address), envelope_address(row.email))
        except (ValueError, MessageError) as exc:
            # One address the email package can't carry (an import, an old row) fails
            # alone: recorded, and the announcement goes on to the next recipient.
            return Ready(error=f"message not built: {exc}"[:2000])
        return Ready(mail, data, envelope)

    def _send_one(self, session: Session, announcement: Announcement, row: Recipient,
                  ready: Ready, ahead: Callable[[], None] | None = None) -> None:
        """Send one row's message; ``ahead`` runs while the server takes it."""
        mail, data, envelope = ready.mail, ready.data, ready.envelope
        if ready.error is not None or mail is None:
            # Committed with the next state change.
            self._stage(row, state="failed", claimed_by=None, last_error=ready.error)
            self.outcome["failed"] += 1
            if ahead:
                ahead()
            return
        self._stage(row, state="sending", attempts=row.attempts + 1)
        mid = message_id(announcement, row.id, mail.site.domain)
        # Durable before the server sees a byte of the message. The same commit records
        # the outcome of the previous message: one commit per message, and a crash
        # between a send and this commit leaves that message in `sending`, so it becomes
        # `unknown`. The commit goes to disk while MAIL, RCPT and DATA go back and forth
        # (only the message itself waits for it); the session is left alone meanwhile.
        committed = self._committer.submit(self._commit, session)
        try:
            self.transport.send_raw(*envelope, data, mid, before_data=committed.result,
                                    before_reply=ahead)
        except BaseException as exc:
            wait_for([committed])
            if committed.exception() is not None:
                raise committed.exception() from None  # not sent: the commit failed
            self._failed(session, row, exc)
        else:
            self._stage(row, state="sent", sent_at=utcnow(), claimed_by=None)
            self.outcome["sent"] += 1

    def _failed(self, session: Session, row: Recipient, exc: BaseException) -> None:
        if not isinstance(exc, DeliveryError):
            self._stage(row, state="unknown", claimed_by=None,
                        last_error="interrupted while handing this over")
            self._commit(session)
            raise exc
        if exc.kind == "temporary" and row.attempts < self.max_attempts:
            self._stage(row, state="pending", claimed_by=None, last_error=exc.reply[:2000],
                        next_attempt_at=utcnow() + timedelta(
                            seconds=self.retry_delay * 2 ** (row.attempts - 1)))
            self.outcome["retry"] += 1
        else:
            state = "unknown" if exc.kind == "unknown" else "failed"
            self._stage(row, state=state, claimed_by=None, last_error=exc.reply[:2000])
            self.outcome[state] += 1

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> Counter:
        interval = 1.0 / self.rate if self.rate else 0.0
        next_at = time.monotonic()

        def pace() -> None:
            nonlocal next_at
            if interval:
                time.sleep(max(0.0, next_at - time.monotonic()))
                next_at = max(next_at + interval, time.monotonic())

        with self.app.app_context(), self.sessions() as session:
            announcement = session.get(Announcement, self.announcement_id)
            if announcement is None:
                raise LookupError(f"no announcement {self.announcement_id}")
            self.recover(session)
            try:
                while True:
                    rows = self.claim(session)
                    if not rows:
                        wait = self._next_retry_in(session)
                        if wait is None:
                            break
                        time.sleep(min(wait, 5.0))
                        continue
                    # Who unsubscribed (or was deleted) meanwhile: one query per batch.
                    ids = [r.signup_id for r in rows if r.signup_id is not None]
                    found = session.execute(select(
                        Signup.id, Signup.unsubscribed_at, Signup.link_key).where(
                        Signup.id.in_(ids))).all()
                    unsubscribed = {sid: gone is not None for sid, gone, _ in found}
                    # Unsubscribe links name the row and its key (web/links.py).
                    self._link_keys = {sid: key for sid, _, key in found}
                    self._send_batch(session, announcement, rows, unsubscribed, pace)
                    self._commit(session)  # the batch's last outcome
            finally:
                try:
                    self._commit(session)  # keep outcomes known so far (a clean stop)
                except Exception:
                    session.rollback()
                self.release(session)
                self.transport.close()
                self._committer.shutdown()
        return self.outcome

    def _send_batch(self, session: Session, announcement: Announcement, rows: list[Recipient],
                    unsubscribed: dict[int, bool], pace: Callable[[], None]) -> None:
        """Send claimed rows in order; each message is built while the server takes the
        one before it (no thread: between writing a message and reading its reply)."""
        ready: Ready | BaseException = self._prepare(announcement, rows[0], unsubscribed)
        for index, row in enumerate(rows):
            pace()
            if isinstance(ready, BaseException):
                raise ready
            upcoming = rows[index + 1] if index + 1 < len(rows) else None
            built: list[Ready | BaseException] = []

            def ahead(upcoming: Recipient | None = upcoming,
                      built: list[Ready | BaseException] = built) -> None:
                if upcoming is not None:
                    try:
                        built.append(self._prepare(announcement, upcoming, unsubscribed))
                    except BaseException as exc:  # raised on that row's turn
                        built.append(exc)

            self._send_one(session, announcement, row, ready, ahead)
            if self.on_progress:
                self.on_progress(row.state)
            if upcoming is not None:
                ready = built[0] if built else self._prepare(announcement, upcoming,
                                                             unsubscribed)

    def _next_retry_in(self, session: Session) -> float | None:
        """Seconds until a pending row may be claimed, or None when nothing is left to send.

        Pending rows can be momentarily unclaimable (another sender's claim holds
        them): those are retried at once, not taken for "done".
        """
        pending, soonest = session.execute(
            select(func.count(), func.min(Recipient.next_attempt_at)).where(
                Recipient.announcement_id == self.announcement_id,
                Recipient.state == "pending")).one()
        session.rollback()  # end the read: don't hold a snapshot while waiting
        if not pending:
            return None
        if soonest is None or session.scalar(select(func.count()).where(
                Recipient.announcement_id == self.announcement_id,
                Recipient.state == "pending", Recipient.next_attempt_at.is_(None))):
            return 0.05
        return max(0.05, (soonest - utcnow()).total_seconds())
