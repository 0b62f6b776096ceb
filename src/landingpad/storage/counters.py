"""Counts in a fixed time window, kept in the database so every process and node agrees.

Used by the log-in throttle and the per-address mail caps; both tables have
the columns (key, window_start, count).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from landingpad.storage.types import utcnow


def current(session: Session, model: type, key: str, window: timedelta,
            lock: bool = False) -> tuple[int, datetime | None]:
    """(count, window start) of ``key`` now; (0, None) when the window has passed.

    ``lock`` holds the row (PostgreSQL: FOR UPDATE) for a check-then-add.
    """
    row = session.get(model, key, with_for_update=lock)
    if row is None or row.window_start + window <= utcnow():
        return 0, None
    return row.count, row.window_start


def add(session: Session, model: type, key: str, window: timedelta) -> None:
    """Count one more for ``key``, starting a new window when the last one has passed.

    Not committed: the caller decides the transaction.
    """
    now = utcnow()
    row = session.get(model, key, with_for_update=True)
    if row is None:
        session.add(model(key=key, window_start=now, count=1))
    elif row.window_start + window <= now:
        row.window_start, row.count = now, 1
    else:
        row.count += 1
