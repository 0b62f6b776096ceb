"""Caps on mail per address and window, counted in the database (every process agrees)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from sqlalchemy.orm import Session

from landingpad.storage import counters
from landingpad.storage.engine import write_lock
from landingpad.storage.models import MailCap


def take(session: Session, secret: str, kind: str, email: str, limit: int,
         window: timedelta = timedelta(days=1)) -> bool:
    """Count one mail of ``kind`` to ``email``; False (and nothing counted) past the limit."""
    digest = hmac.new(secret.encode(), email.lower().encode(), hashlib.sha256).hexdigest()[:40]
    key = f"{kind}:{digest}"
    with write_lock(session.get_bind()):
        if counters.current(session, MailCap, key, window, lock=True)[0] >= limit:
            session.rollback()
            return False
        counters.add(session, MailCap, key, window)
        session.commit()
    return True
