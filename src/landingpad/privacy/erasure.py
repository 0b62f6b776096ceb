"""Forgetting an address and purging old data (the suppression list: storage.suppression)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from landingpad import ratelimit
from landingpad.sites import SiteRegistry
from landingpad.storage.events import erasable, record_erasure
from landingpad.storage.models import Announcement, BounceReport, Event, Recipient, Signup
from landingpad.storage.suppression import suppress
from landingpad.storage.types import utcnow


@dataclass
class Forgotten:
    signups: int = 0
    recipients: int = 0
    bounce_reports: int = 0
    mail_files: list[Path] = field(default_factory=list)


def forget(session: Session, secret: str, email: str, mail_folder: Path) -> Forgotten:
    """Erase an address everywhere: sign-ups, recipient rows, caps, mail files; suppress it.

    Needs an app context (the mail caps live in the rate-limit store).
    """
    email = email.strip().lower()
    result = Forgotten()
    # First: it reads every kept report, before this transaction starts writing (SQLite's
    # write lock would be held meanwhile). Not on the visitor's own erasure: anyone can
    # mail the bounce address, and that scan must not be one web request away.
    result.bounce_reports = erase_bounce_copies(session, email)
    record_erasure(session, erasable(session, Signup.email == email))
    result.signups = session.execute(delete(Signup).where(Signup.email == email)).rowcount
    result.recipients = session.execute(
        delete(Recipient).where(Recipient.email == email)).rowcount
    ratelimit.forget_mail(email)
    suppress(session, secret, email, "forgotten")
    session.commit()
    result.mail_files = erase_mail_copies(mail_folder, email)
    return result


# Characters that may touch an address inside a longer one ("jimbob@x" holds "bob@x").
_ATEXT = rb"A-Za-z0-9!#$%&'*+/=?^_`{|}~.\x80-\xff-"


def _holds(data: bytes, email: str) -> bool:
    """Whether a stored message is to, or mentions, this address (whole, any case)."""
    pattern = (rb"(?<![" + _ATEXT + rb"])" + re.escape(email.lower().encode())
               + rb"(?![A-Za-z0-9\x80-\xff-]|\.[A-Za-z0-9\x80-\xff])")
    if re.search(pattern, data.lower()):
        return True
    # Recipient headers the email package decodes (an encoded word, an IDNA domain).
    message = message_from_bytes(data, policy=policy.default)
    for name in ("To", "Cc"):
        for header in message.get_all(name, []):
            for address in getattr(header, "addresses", ()):
                if address.addr_spec.lower() == email.lower():
                    return True
    return False


def erase_mail_copies(mail_folder: Path, email: str) -> list[Path]:
    """Delete the copies of mail to (or naming) ``email`` in the mail folder, as written
    by the folder transport: its .eml files and any half-written temporary file.

    One place for this: ``forget`` and the erasure from the web both use it.
    """
    erased: list[Path] = []
    if not mail_folder.is_dir():
        return erased
    email = email.strip().lower()
    for path in [*mail_folder.glob("*.eml"), *mail_folder.glob(".*.tmp")]:
        try:
            if _holds(path.read_bytes(), email):
                path.unlink()
                erased.append(path)
        except FileNotFoundError:  # replaced or erased meanwhile by another process
            continue
    return erased


def erase_bounce_copies(session: Session, email: str) -> int:
    """Drop the kept bytes of unmatched bounce reports that name ``email`` (the caller
    commits). The row stays, without its bytes, so the same report is never counted again.

    Only unmatched reports keep bytes, for a few weeks, so this reads few rows.
    """
    email = email.strip().lower()
    held = [report_id for report_id, raw in session.execute(
        select(BounceReport.id, BounceReport.raw).where(BounceReport.raw.is_not(None)))
        if _holds(raw, email)]
    if held:
        session.execute(update(BounceReport).where(BounceReport.id.in_(held))
                        .values(raw=None, reason="bytes erased at the address's request"))
    return len(held)


@dataclass
class PurgePlan:
    unconfirmed: list[int]
    unsubscribed: list[int]
    announcements: list[int]
    events: list[int] = field(default_factory=list)  # with their webhook deliveries


def plan_purge(session: Session, registry: SiteRegistry, unconfirmed_days: int,
               unsubscribed_days: int, announcement_days: int,
               event_days: int | None = None) -> PurgePlan:
    """What a purge would delete. Unconfirmed means: on a double opt-in site, never confirmed."""
    now = utcnow()
    optin_sites = [d for d in registry.domains()
                   if (site := registry.site_for_host(d)) and site.double_optin]
    unconfirmed = list(session.scalars(select(Signup.id).where(
        Signup.site.in_(optin_sites), Signup.confirmed_at.is_(None),
        Signup.created_at < now - timedelta(days=unconfirmed_days))))
    unsubscribed = list(session.scalars(select(Signup.id).where(
        Signup.unsubscribed_at < now - timedelta(days=unsubscribed_days))))
    announcements = list(session.scalars(select(Announcement.id).where(
        Announcement.created_at < now - timedelta(days=announcement_days))))
    # Events hold addresses too: kept only as long as webhooks may still need them.
    events = [] if event_days is None else list(session.scalars(select(Event.id).where(
        Event.created_at < now - timedelta(days=event_days))))
    return PurgePlan(unconfirmed, unsubscribed, announcements, events)


def purge(session: Session, plan: PurgePlan) -> None:
    ids = plan.unconfirmed + plan.unsubscribed
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        # Receivers of the webhooks forget them too; their events (with addresses) go.
        record_erasure(session, erasable(session, Signup.id.in_(chunk)))
        session.execute(delete(Signup).where(Signup.id.in_(chunk)))
    if plan.announcements:
        session.execute(delete(Recipient).where(
            Recipient.announcement_id.in_(plan.announcements)))
        session.execute(delete(Announcement).where(Announcement.id.in_(plan.announcements)))
    for start in range(0, len(plan.events), 500):
        session.execute(delete(Event).where(Event.id.in_(plan.events[start:start + 500])))
    session.commit()
