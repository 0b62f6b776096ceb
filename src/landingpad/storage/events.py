"""The event record: what happened to a sign-up, written in the transaction that did it.

An outbox: the event commits with its change or not at all, so a reader (the
webhook deliverer) never misses one and never sees one that didn't happen.
Payloads hold the address (receivers sync their lists from them), except an
erasure's, which names only the row's number: an erased row's earlier events
are deleted with it (``Event.signup_id`` cascades).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from landingpad.storage.models import Event, EventKind, Signup
from landingpad.storage.types import utcnow


def _stamp(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def signup_payload(signup: Signup) -> dict[str, Any]:
    """What a webhook says about a sign-up (not its link key: that opens its links)."""
    return {"id": signup.id, "site": signup.site, "email": signup.email,
            "interests": list(signup.interests or ()),
            "consent_version": signup.consent_version,
            "created_at": _stamp(signup.created_at), "confirmed_at": _stamp(signup.confirmed_at),
            "unsubscribed_at": _stamp(signup.unsubscribed_at)}


def created_payload(signup_id: int, site: str, email: str, interests: Sequence[str],
                    consent_version: str, now: datetime, awaiting_confirmation: bool
                    ) -> dict[str, Any]:
    """The ``signup.created`` payload, built on the sign-up's hot path (no ORM row)."""
    return {"id": signup_id, "site": site, "email": email, "interests": list(interests),
            "consent_version": consent_version, "created_at": now.isoformat(),
            "confirmed_at": None, "unsubscribed_at": None,
            # Double opt-in, or an address that once unsubscribed: not to be mailed
            # until a signup.confirmed event says its owner confirmed.
            "awaiting_confirmation": awaiting_confirmation}


def record_event(session: Session, kind: EventKind, site: str, payload: dict[str, Any],
                 signup_id: int | None = None, now: datetime | None = None) -> None:
    """Add an event to ``session``'s transaction (no commit: it commits with the change)."""
    session.add(Event(kind=kind.value, site=site, signup_id=signup_id, payload=payload,
                      created_at=now or utcnow()))


def record_erasure(session: Session, signups: Sequence[Signup]) -> None:
    """``signup.erased`` for each row about to be deleted, without address or hash.

    The rows' earlier events go with them (and their pending deliveries): their
    payloads hold the address. Call before deleting the rows; no commit.
    """
    now = utcnow()
    ids = [s.id for s in signups]
    for start in range(0, len(ids), 500):
        session.execute(delete(Event).where(Event.signup_id.in_(ids[start:start + 500])))
    for signup in signups:
        record_event(session, EventKind.ERASED, signup.site,
                     {"id": signup.id, "site": signup.site, "erased_at": now.isoformat()},
                     now=now)


def erasable(session: Session, *where: Any) -> list[Signup]:
    """The sign-ups matching ``where``, for record_erasure before they are deleted."""
    return list(session.scalars(select(Signup).where(*where)))
