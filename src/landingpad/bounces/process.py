"""One report in, its effect stored: matched through its VERP token, suppressed as due.

A report is recorded once, by the sha256 of its bytes (line ends aside): reading it again (the
mailbox flag was lost, a file imported twice) changes nothing. A report is
matched only through a valid VERP token (mail/verp.py): nobody can make one
for an address they never got mail for, so a forged report suppresses nobody.
A report that can't be matched is kept aside with its bytes and a reason
(``bounces list``, the admin), never dropped.

Policy (constants, not settings: they are what the big mailbox providers imply):
a hard bounce (5.x.x) or a complaint suppresses the address at once, for every
site (the suppression list is one for the install); a soft bounce (4.x.x) does
so at the SOFT_LIMIT-th within SOFT_WINDOW.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from landingpad.bounces.parse import DELAYED, Failure, Parsed, parse_report
from landingpad.mail.verp import ANNOUNCEMENT, read_token, token_of
from landingpad.storage import session_factory
from landingpad.storage.models import Bounce, BounceKind, BounceReport, Recipient
from landingpad.storage.suppression import address_hash, suppress
from landingpad.storage.types import utcnow

SOFT_LIMIT = 3                     # soft bounces of one address ...
SOFT_WINDOW = timedelta(days=7)    # ... within this long: suppressed
UNMATCHED_KEEP = timedelta(days=30)  # an unmatched report's bytes (may hold an address)
MAX_REPORT_BYTES = 10 * 1024 * 1024  # larger is not a bounce; kept aside without its bytes
# What an unmatched report keeps, to be looked at: its headers and the start of its body.
# Anyone can mail the bounce address, so its junk must not fill the database.
KEPT_BYTES = 64 * 1024
BATCH = 100                        # reports per commit (and per mailbox flag update)
BATCH_BYTES = 20 * 1024 * 1024     # ... or fewer, when they are this large together
UNMATCHED = "unmatched"
REASONS = {BounceKind.HARD: "bounce", BounceKind.SOFT: "soft-bounce",
           BounceKind.COMPLAINT: "complaint"}


class Result(enum.StrEnum):
    """What reading one report did."""

    HARD = "hard"
    SOFT = "soft"
    COMPLAINT = "complaint"
    DELAYED = "delayed"      # a delay warning: recorded, nothing else
    UNMATCHED = "unmatched"  # kept aside
    DUPLICATE = "duplicate"  # read before: nothing changed


@dataclass(frozen=True)
class Match:
    """One failure matched to an address (and the row it was sent from, if any)."""

    failure: Failure
    email: str
    site: str | None = None
    announcement_id: int | None = None


class Processor:
    """Reads reports for one app (its secret, bounce domain and database)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.secret: str = app.config["SECRET_KEY"]
        self.domain: str = app.config.get("BOUNCE_DOMAIN") or ""
        self.sessions = session_factory(app)

    def process(self, raw: bytes, source: str) -> Result:
        """Record one report and apply it; commits. Idempotent by the report's bytes."""
        return self.process_batch([raw], source)[0]

    def process_batch(self, raws: list[bytes], source: str) -> list[Result]:
        """Record reports and apply them in order, in one transaction (one durable commit
        for the lot, not one each); idempotent by each report's bytes. Should another
        reader record one of them meanwhile, they are done again one by one."""
        with self.sessions() as session:
            results = [self._one(session, raw, source) for raw in raws]
            try:
                session.commit()
                return results
            except IntegrityError:
                session.rollback()
        if len(raws) == 1:
            return [Result.DUPLICATE]  # the other reader recorded it
        return [self.process(raw, source) for raw in raws]

    def _one(self, session: Session, raw: bytes, source: str) -> Result:
        # The same report read over IMAP (CRLF) or from a file (LF, an mbox's trailing
        # blank line) is one report.
        digest = hashlib.sha256(raw.replace(b"\r\n", b"\n").rstrip()).hexdigest()
        if session.scalar(select(BounceReport.id).where(
                BounceReport.message_hash == digest)) is not None:
            return Result.DUPLICATE
        if len(raw) > MAX_REPORT_BYTES:
            return self._unmatched(session, digest, source, Parsed(),
                                   "larger than any bounce report", b"")
        return self._apply(session, digest, source, raw)

    def _apply(self, session: Session, digest: str, source: str, raw: bytes) -> Result:
        try:
            parsed = parse_report(raw)
        except Exception as exc:  # one odd message must not stop the mailbox for good
            return self._unmatched(session, digest, source, Parsed(),
                                   f"could not be read ({type(exc).__name__})", raw)
        tokens = [t for t in (token_of(a, self.domain) for a in parsed.addresses) if t]
        if not self.domain:
            return self._unmatched(session, digest, source, parsed,
                                   "LANDINGPAD_BOUNCE_DOMAIN is not set: nothing can be matched",
                                   raw)
        if not tokens:
            return self._unmatched(session, digest, source, parsed,
                                   f"not addressed to a VERP address at {self.domain}", raw)
        token = next((v for v in (read_token(self.secret, t) for t in tokens) if v), None)
        if token is None:
            return self._unmatched(session, digest, source, parsed,
                                   "its VERP token is not valid (garbled, forged, or made "
                                   "with another secret key)", raw)
        if not parsed.failures:
            return self._unmatched(session, digest, source, parsed,
                                   "no failure or complaint found in it", raw)
        if token.kind == ANNOUNCEMENT:
            row = session.get(Recipient, token.recipient_id)
            if row is None:
                return self._unmatched(session, digest, source, parsed,
                                       "its announcement recipient no longer exists", raw)
            # The token names the row; the report's own address may be a forwarder's.
            worst = max(parsed.failures, key=_severity)
            matches = [Match(worst, row.email, row.site, row.announcement_id)]
        else:
            matches = [Match(f, f.address) for f in parsed.failures
                       if f.address and token.matches(self.secret, f.address)]
            if not matches:
                return self._unmatched(session, digest, source, parsed,
                                       "the failed address is not the one its VERP token "
                                       "names", raw)
        return self._record(session, digest, source, parsed, matches)

    def _record(self, session: Session, digest: str, source: str, parsed: Parsed,
                matches: list[Match]) -> Result:
        now = utcnow()
        kinds = {m.failure.kind for m in matches}
        outcome = next((k for k in (BounceKind.COMPLAINT, BounceKind.HARD, BounceKind.SOFT)
                        if k in kinds), DELAYED)
        report = BounceReport(message_hash=digest, source=source, outcome=str(outcome),
                              subject=parsed.subject or None, received_at=now)
        session.add(report)
        session.flush()
        if outcome == DELAYED:
            return Result.DELAYED
        seen: set[str] = set()
        for match in matches:
            kind = match.failure.kind
            hashed = address_hash(self.secret, match.email)
            if kind == DELAYED or hashed in seen:
                continue
            seen.add(hashed)
            session.add(Bounce(report_id=report.id, kind=kind, address_hash=hashed,
                               site=match.site, announcement_id=match.announcement_id,
                               status=match.failure.status, created_at=now))
            session.flush()
            if kind == BounceKind.SOFT and self._soft_count(session, hashed) < SOFT_LIMIT:
                continue
            suppress(session, self.secret, match.email, REASONS[BounceKind(kind)])
        return Result(str(outcome))

    def _soft_count(self, session: Session, hashed: str) -> int:
        return session.scalar(select(func.count(func.distinct(Bounce.report_id))).where(
            Bounce.address_hash == hashed, Bounce.kind == BounceKind.SOFT.value,
            Bounce.created_at >= utcnow() - SOFT_WINDOW)) or 0

    def _unmatched(self, session: Session, digest: str, source: str, parsed: Parsed,
                   reason: str, raw: bytes) -> Result:
        session.add(BounceReport(message_hash=digest, source=source, outcome=UNMATCHED,
                                 reason=reason, subject=parsed.subject or None,
                                 raw=raw[:KEPT_BYTES] or None, received_at=utcnow()))
        session.flush()  # a copy later in the same batch is then a duplicate
        return Result.UNMATCHED

    def forget_old_bytes(self) -> int:
        """Drop the bytes of unmatched reports older than UNMATCHED_KEEP (they may hold
        an address); the row and its reason stay. Returns how many."""
        with self.sessions() as session:
            done = session.execute(update(BounceReport).where(
                BounceReport.outcome == UNMATCHED, BounceReport.raw.is_not(None),
                BounceReport.received_at < utcnow() - UNMATCHED_KEEP).values(raw=None))
            session.commit()
            return done.rowcount or 0


def _severity(failure: Failure) -> int:
    return {BounceKind.COMPLAINT.value: 3, BounceKind.HARD.value: 2,
            BounceKind.SOFT.value: 1}.get(failure.kind, 0)


def unmatched_reports(session: Session, limit: int = 100) -> list[BounceReport]:
    """The newest reports kept aside (without loading their bytes)."""
    from sqlalchemy.orm import defer

    return list(session.scalars(select(BounceReport).options(defer(BounceReport.raw))
                                .where(BounceReport.outcome == UNMATCHED)
                                .order_by(BounceReport.id.desc()).limit(limit)))



