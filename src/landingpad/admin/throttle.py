"""Log-in throttle: failures per account and per client, in a fixed window, in the database.

The database is shared by every uWSGI process (and node), so the count holds
across them. A client is recorded only as an HMAC of its address.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from landingpad.storage import counters
from landingpad.storage.models import LoginFailure
from landingpad.storage.types import utcnow

WINDOW = timedelta(minutes=15)
MAX_PER_ACCOUNT = 5
MAX_PER_CLIENT = 20


def keys(secret: str, email: str, client: str) -> list[tuple[str, int]]:
    """(key, limit) pairs for an attempt; the client address is hashed, never stored."""
    account = "acct:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:40]
    client_hash = hmac.new(secret.encode(), client.encode(), hashlib.sha256).hexdigest()[:40]
    return [(account, MAX_PER_ACCOUNT), ("client:" + client_hash, MAX_PER_CLIENT)]


def blocked_for(session: Session, pairs: list[tuple[str, int]]) -> int:
    """Seconds until another attempt is allowed (0: allowed now)."""
    wait = 0
    for key, limit in pairs:
        count, start = counters.current(session, LoginFailure, key, WINDOW)
        if count >= limit:
            wait = max(wait, int((start + WINDOW - utcnow()).total_seconds()) + 1)
    return wait


def record_failure(session: Session, pairs: list[tuple[str, int]]) -> None:
    for key, _ in pairs:
        counters.add(session, LoginFailure, key, WINDOW)
    session.commit()


def clear(session: Session, pairs: list[tuple[str, int]]) -> None:
    """A successful log-in forgets the account's failures (not the client's)."""
    session.execute(delete(LoginFailure).where(LoginFailure.key == pairs[0][0]))
    session.execute(delete(LoginFailure).where(LoginFailure.window_start < utcnow() - WINDOW))
    session.commit()

