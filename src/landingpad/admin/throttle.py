"""Log-in throttle: failures per account and per client, in a fixed window, in the database.

The database is shared by every uWSGI process (and node), so the count holds
across them. A client is recorded only as an HMAC of its address.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

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
    now = utcnow()
    wait = 0
    for key, limit in pairs:
        row = session.get(LoginFailure, key)
        if row and row.window_start + WINDOW > now and row.count >= limit:
            wait = max(wait, int((row.window_start + WINDOW - now).total_seconds()) + 1)
    return wait


def record_failure(session: Session, pairs: list[tuple[str, int]]) -> None:
    now = utcnow()
    for key, _ in pairs:
        row = session.get(LoginFailure, key, with_for_update=True)
        if row is None:
            session.add(LoginFailure(key=key, window_start=now, count=1))
        elif row.window_start + WINDOW <= now:
            row.window_start, row.count = now, 1
        else:
            row.count += 1
    session.commit()


def clear(session: Session, pairs: list[tuple[str, int]]) -> None:
    """A successful log-in forgets the account's failures (not the client's)."""
    session.execute(delete(LoginFailure).where(LoginFailure.key == pairs[0][0]))
    session.execute(delete(LoginFailure).where(LoginFailure.window_start < utcnow() - WINDOW))
    session.commit()


def failures(session: Session, key: str) -> int:
    row = session.scalar(select(LoginFailure).where(LoginFailure.key == key))
    return row.count if row else 0
