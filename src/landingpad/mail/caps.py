"""Caps on mail per address and window, counted in the database (every process agrees)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from sqlalchemy.orm import Session

from landingpad.storage.engine import write_lock
from landingpad.storage.models import MailCap
from landingpad.storage.types import utcnow


def take(session: Session, secret: str, kind: str, email: str, limit: int,
         window: timedelta = timedelta(days=1)) -> bool:
    """Count one mail of ``kind`` to ``email``; False (and nothing counted) past the limit."""
    digest = hmac.new(secret.encode(), email.lower().encode(), hashlib.sha256).hexdigest()[:40]
    key = f"{kind}:{digest}"
    now = utcnow()
    with write_lock(session.get_bind()):
        row = session.get(MailCap, key, with_for_update=True)
        if row is None:
            session.add(MailCap(key=key, window_start=now, count=1))
        elif row.window_start + window <= now:
            row.window_start, row.count = now, 1
        elif row.count >= limit:
            session.rollback()
            return False
        else:
            row.count += 1
        session.commit()
    return True
