"""The certificate queue, the CA's limits as counted here, and challenges any node answers."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from landingpad.storage.models import Base


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
