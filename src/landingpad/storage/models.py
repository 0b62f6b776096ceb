"""Every table, for every feature: one metadata and one migration chain (storage/migrations).

Features keep their tables here (a feature's logic stays in its package): the
migrations see all of them, and erasure can find every table holding an address.
No IP address or other network data is stored, by design."""

from __future__ import annotations

import enum
import json
from datetime import datetime

from sqlalchemy import (
    JSON,
    ColumnElement,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    cast,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from landingpad.storage.types import UTCDateTime, new_key, random_key

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def like_escape(text: str) -> str:
    """``text`` matched literally inside a LIKE pattern whose ESCAPE is a backslash."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


class Signup(Base):
    """One row per (site, normalised email): the sign-up and its consent record.

    Ids are never handed out twice (AUTOINCREMENT on SQLite, a sequence on
    PostgreSQL), and every emailed link also carries the row's ``link_key``:
    a link outlives its row in the mailbox, and must never reach the next one.
    A batch migration that rebuilds these tables on SQLite must keep
    ``sqlite_autoincrement`` (reflection does not see it).
    """

    __tablename__ = "signups"
    __table_args__ = (
        UniqueConstraint("site", "email"),
        Index("ix_signups_created_at", "created_at"),
        Index("ix_signups_email", "email"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site: Mapped[str] = mapped_column(String(253))
    email: Mapped[str] = mapped_column(String(254))
    interests: Mapped[list[str]] = mapped_column(JSON, default=list)
    consent_version: Mapped[str] = mapped_column(String(64))
    # The language of the page signed up on (its mails follow it); None before 0009.
    lang: Mapped[str | None] = mapped_column(String(35))
    consented_at: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    # Where the consent was given when the row came from another tool (`landingpad import`,
    # e.g. "mailchimp export 2026-10"); None: this site's own form.
    source: Mapped[str | None] = mapped_column(String(200))
    # Random per row, in every confirm, unsubscribe and access link (web/links.py).
    # The server default serves rows inserted by nodes of the previous release.
    link_key: Mapped[str] = mapped_column(String(32), default=new_key,
                                          server_default=random_key())
    # True only for the rows that existed when migration 0007 ran: the links they were
    # sent name the id alone, and still work for them (and for no later row).
    legacy_links: Mapped[bool] = mapped_column(default=False, server_default=false())

    @classmethod
    def interested_in(cls, interest: str) -> ColumnElement[bool]:
        """Rows whose interests hold ``interest``: the list's JSON text holds it as a JSON
        string (quotes and backslashes escaped as json.dumps writes them)."""
        pattern = f"%{like_escape(json.dumps(interest))}%"
        return cast(cls.interests, Text).like(pattern, escape="\\")

    @classmethod
    def email_contains(cls, text: str) -> ColumnElement[bool]:
        """Rows whose address holds ``text`` literally (any case)."""
        return cls.email.like(f"%{like_escape(text.lower())}%", escape="\\")


class User(Base):
    """An owner who may use the admin area. Only a password hash is kept (argon2id)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Bumped when the password changes: sessions made before are no longer valid.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]


class LoginFailure(Base):
    """No longer used: failed log-ins are counted by the rate limiter (``ratelimit``).

    The table stays until a later release, so nodes still running the previous
    release keep working during a rolling upgrade (see MailCap).
    """

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_start: Mapped[datetime]
    count: Mapped[int] = mapped_column(default=0)


class Announcement(Base):
    """A launch announcement: written once, sent to the sign-ups of one or more sites."""

    __tablename__ = "announcements"
    __table_args__ = {"sqlite_autoincrement": True}  # ids (and Message-IDs) never come back

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    body_markdown: Mapped[str] = mapped_column(Text)
    sites: Mapped[list[str]] = mapped_column(JSON)
    interest: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime]
    # Set when the recipient list was taken from the sign-ups (the first `send`).
    recipients_at: Mapped[datetime | None]
    # Random part of this announcement's Message-IDs (unique even across databases);
    # None for announcements made before it existed: they keep their Message-IDs.
    message_key: Mapped[str | None] = mapped_column(String(32), default=new_key)


class RecipientState(enum.StrEnum):
    """Where one recipient's message stands: the strings stored in ``recipients.state``.

    Defined beside its table (not in the announce feature) because the core may not
    import a feature, and other features (privacy's access report) read the column too.
    """

    PENDING = "pending"  # to be sent; after a 4xx, again once next_attempt_at has come
    CLAIMED = "claimed"  # in a running sender's batch, not yet started
    SENDING = "sending"  # committed before the server sees the message: one per sender
    SENT = "sent"
    FAILED = "failed"    # refused for good, or never sendable (unsubscribed, no site...)
    UNKNOWN = "unknown"  # the server may have it: never resent by itself


class Recipient(Base):
    """One address of an announcement and where its message stands.

    pending -> claimed -> sending -> sent | failed; a 4xx goes back to pending
    later. A row left in `sending` by a sender that died becomes `unknown`: the
    server may or may not have taken it, so it is never resent automatically.
    """

    __tablename__ = "recipients"
    __table_args__ = (
        UniqueConstraint("announcement_id", "email"),
        Index("ix_recipients_state", "announcement_id", "state"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    announcement_id: Mapped[int] = mapped_column(ForeignKey("announcements.id",
                                                            ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    site: Mapped[str] = mapped_column(String(253))
    signup_id: Mapped[int | None] = mapped_column(ForeignKey("signups.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(10), default=RecipientState.PENDING.value)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]


class SenderLease(Base):
    """A running announcement sender and when it last said so.

    On its own host a sender's pid tells whether it runs; across hosts this
    lease does: a sender whose lease went stale died, and its claimed rows can
    be taken over (its `sending` rows become `unknown`).
    """

    __tablename__ = "senders"

    identity: Mapped[str] = mapped_column(String(100), primary_key=True)
    seen_at: Mapped[datetime]


class MailCap(Base):
    """No longer used: mail caps are counted by the rate limiter (``ratelimit/caps.py``).

    Its table stays until a later release, so nodes still running the previous
    release keep working during a rolling upgrade; then a migration drops it.
    """

    __tablename__ = "mail_caps"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_start: Mapped[datetime]
    count: Mapped[int] = mapped_column(default=0)


class Suppression(Base):
    """Addresses never to be mailed again (unsubscribed or forgotten), as keyed hashes only."""

    __tablename__ = "suppressions"

    address_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]


class ConsentText(Base):
    """Every consent sentence ever shown, by version, so a sign-up's consent can be proven."""

    __tablename__ = "consent_texts"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    lang: Mapped[str | None] = mapped_column(String(35))  # the language it was shown in
    first_used_at: Mapped[datetime]


# Certificates (the tls feature): the queue, the CA's limits as counted here, and
# challenges any node answers.


class CertState(enum.StrEnum):
    """Where a host name's certificate stands (``tls status``)."""

    NONE = "none"          # no certificate and none queued (automatic certificates off)
    PENDING = "pending"    # queued: waiting for its turn, the CA's limits, or DNS
    VALID = "valid"        # served, and not yet due for renewal
    RENEWING = "renewing"  # served, due: a renewal is under way or queued
    FAILING = "failing"    # the last attempt failed; backing off (``last_error`` says why)


class Certificate(Base):
    """One row per host name that should have a certificate (a domain or an alias)."""

    __tablename__ = "tls_certificates"
    __table_args__ = (Index("ix_tls_certificates_next_attempt_at", "next_attempt_at"),)

    host: Mapped[str] = mapped_column(String(253), primary_key=True)
    state: Mapped[str] = mapped_column(String(10), default=CertState.PENDING.value)
    not_after: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]  # when the worker should look at it again
    failures: Mapped[int] = mapped_column(default=0)  # in a row; drives the back-off
    last_error: Mapped[str | None] = mapped_column(Text)
    renew_at: Mapped[datetime | None]  # ARI's pick in its window, or a third of the lifetime left
    ari_checked_at: Mapped[datetime | None]
    alerted_at: Mapped[datetime | None]  # the last expiry alert mailed to the owner
    updated_at: Mapped[datetime]


class CertOrder(Base):
    """Orders placed with the CA, kept a week: what its limits count."""

    __tablename__ = "tls_orders"
    __table_args__ = (Index("ix_tls_orders_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    host: Mapped[str] = mapped_column(String(253))
    registered_domain: Mapped[str] = mapped_column(String(253))
    created_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(10), default="pending")  # issued|failed|pending


class Challenge(Base):
    """An HTTP-01 answer, served by whichever node the CA reaches."""

    __tablename__ = "tls_challenges"

    token: Mapped[str] = mapped_column(String(128), primary_key=True)
    key_authorization: Mapped[str] = mapped_column(Text)
    host: Mapped[str] = mapped_column(String(253))
    created_at: Mapped[datetime]


class Lease(Base):
    """Who holds a job that must run once at a time across nodes (the orderer), until when."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime]


class SharedCertificate(Base):
    """The certificate every node serves for a host, encrypted with the install's secret key.

    Each node's worker pass copies a newer one into its own ``tls/live/`` (nginx reads
    local files); only the node holding the orderer lease orders.
    """

    __tablename__ = "tls_files"

    host: Mapped[str] = mapped_column(String(253), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of the chain: changed?
    sealed: Mapped[bytes] = mapped_column(LargeBinary)  # Fernet(chain + key)
    not_after: Mapped[datetime]
    updated_at: Mapped[datetime]


# Bounces and complaints (the bounces feature): every report read, and what it said.


class BounceKind(enum.StrEnum):
    """What one report said about one address: the strings stored in ``bounces.kind``."""

    HARD = "hard"            # 5.x.x: suppressed at once
    SOFT = "soft"            # 4.x.x: suppressed after several within a window
    COMPLAINT = "complaint"  # an ARF report (RFC 5965): suppressed at once


class BounceReport(Base):
    """One report read from the bounce mailbox or a file, once (by its bytes' sha256).

    ``outcome`` is a BounceKind, ``delayed`` (a warning, nothing to do) or
    ``unmatched``: no valid VERP token, or nothing a machine can read. Only an
    unmatched report keeps its bytes (``raw``, to be looked at); they may hold an
    address, so each `bounces fetch` or `import` drops them after a few weeks.
    """

    __tablename__ = "bounce_reports"
    __table_args__ = (Index("ix_bounce_reports_outcome", "outcome", "received_at"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    message_hash: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(10))  # imap | file
    outcome: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(200))
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    received_at: Mapped[datetime]


class Bounce(Base):
    """One address's bounce or complaint, from one report: keyed hash, never the address."""

    __tablename__ = "bounces"
    __table_args__ = (
        UniqueConstraint("report_id", "address_hash"),
        Index("ix_bounces_address", "address_hash", "kind", "created_at"),
        Index("ix_bounces_announcement_id", "announcement_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("bounce_reports.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    address_hash: Mapped[str] = mapped_column(String(64))
    site: Mapped[str | None] = mapped_column(String(253))
    announcement_id: Mapped[int | None] = mapped_column(
        ForeignKey("announcements.id", ondelete="SET NULL"))
    status: Mapped[str | None] = mapped_column(String(16))  # the DSN's status, e.g. 5.1.1
    created_at: Mapped[datetime]


# Events (the outbox of what happened to a sign-up), their webhook deliveries, and the
# welcome mail's journal.


class EventKind(enum.StrEnum):
    """What happened: the strings stored in ``events.kind`` (and sent as a webhook's type)."""

    CREATED = "signup.created"
    CONFIRMED = "signup.confirmed"
    UNSUBSCRIBED = "signup.unsubscribed"
    ERASED = "signup.erased"


class Event(Base):
    """One change to a sign-up, written in the same transaction as the change (an outbox).

    ``signup_id`` ties the event to its row: deleting the row (an erasure, a purge)
    deletes its events and their deliveries too, since their payloads hold the
    address. The ``signup.erased`` event itself names no row and holds no address.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_dispatched", "dispatched", "id"),
        Index("ix_events_signup_id", "signup_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Random, part of every webhook-id: unique even across databases (a reinstall).
    key: Mapped[str] = mapped_column(String(32), default=new_key)
    kind: Mapped[str] = mapped_column(String(40))
    site: Mapped[str] = mapped_column(String(253))
    # ON UPDATE too: a row renumbered (a restore) keeps its events.
    signup_id: Mapped[int | None] = mapped_column(ForeignKey("signups.id", ondelete="CASCADE",
                                                             onupdate="CASCADE"))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime]
    # Set once the webhook deliverer has made this event's deliveries (fan-out).
    dispatched: Mapped[bool] = mapped_column(default=False, server_default=false())


class DeliveryState(enum.StrEnum):
    """Where one webhook delivery stands: the strings stored in ``deliveries.state``."""

    PENDING = "pending"      # to be sent (again, once next_attempt_at has come)
    SENDING = "sending"      # claimed by a deliverer (until claimed_until, or its death)
    DELIVERED = "delivered"  # the endpoint answered 2xx
    FAILED = "failed"        # given up after the retry window (last_error says why)


class Delivery(Base):
    """One event to one endpoint: retried with back-off until delivered or given up.

    Unique per (event, endpoint): two deliverers fanning out the same event make
    one row, and its webhook-id (from the event's key and the endpoint) never changes.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint"),
        Index("ix_deliveries_state", "state", "next_attempt_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    endpoint: Mapped[str] = mapped_column(String(2000))
    state: Mapped[str] = mapped_column(String(10), default=DeliveryState.PENDING.value)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None]
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class Welcome(Base):
    """The welcome mail's journal: one row per sign-up, committed before the mail is sent,
    so it goes at most once. No address: the row goes with its sign-up."""

    __tablename__ = "welcomes"

    signup_id: Mapped[int] = mapped_column(ForeignKey("signups.id", ondelete="CASCADE",
                                                      onupdate="CASCADE"), primary_key=True)
    created_at: Mapped[datetime]  # when it was taken for sending
