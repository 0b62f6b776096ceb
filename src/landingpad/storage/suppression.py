"""The suppression list: HMACs of addresses never to be mailed again, never the addresses.

An address that unsubscribed or was forgotten is recognised, and never mailed
again, even if it is imported again. The key is the install's secret.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from landingpad.storage.models import Suppression
from landingpad.storage.types import utcnow

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
# Built once, its IN list expanded per call: compiling 500 literal parameters for each
# chunk cost more than the look-up (an import checks 100,000 addresses).
_ON_LIST = select(Suppression.address_hash).where(
    Suppression.address_hash.in_(bindparam("keys", expanding=True)))


def address_hash(secret: str, email: str) -> str:
    return hmac.new(secret.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()


def suppress(session: Session, secret: str, email: str, reason: str) -> None:
    """Add an address to the suppression list (no commit; idempotent)."""
    insert = _INSERTS[session.get_bind().dialect.name]
    session.execute(insert(Suppression).values(
        address_hash=address_hash(secret, email), reason=reason, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["address_hash"]))


def unsuppress(session: Session, secret: str, email: str) -> None:
    """Lift the suppression (no commit): only for an address that confirmed by email."""
    session.execute(delete(Suppression).where(
        Suppression.address_hash == address_hash(secret, email)))


def suppressed(session: Session, secret: str, emails: list[str]) -> set[str]:
    """Which of these addresses are on the suppression list."""
    by_hash = {address_hash(secret, e): e for e in emails}
    found = set()
    keys = list(by_hash)
    for start in range(0, len(keys), 500):
        found |= set(session.scalars(_ON_LIST, {"keys": keys[start:start + 500]}))
    return {by_hash[h] for h in found}
