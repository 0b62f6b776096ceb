"""One holder at a time across nodes (the certificate orderer), by a row with an expiry.

Taken with a conditional UPDATE (or the first INSERT), which both SQLite and
PostgreSQL run atomically; renewed while the holder works. A holder that died on
this machine (its pid is gone) is taken over at once, one on another machine when
its lease runs out.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from landingpad.storage.types import utcnow
from landingpad.tls.models import Lease

TTL = timedelta(seconds=60)


def me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _dead_here(holder: str) -> bool:
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def acquire(sessions: sessionmaker[Session], name: str, holder: str | None = None,
            ttl: timedelta = TTL) -> bool:
    """Take or renew lease ``name``; False while someone else holds it."""
    holder = holder or me()
    now = utcnow()
    try:
        with sessions() as session, session.begin():
            current = session.get(Lease, name)
            if current is None:  # the first ever: a racing INSERT fails on the primary key
                session.add(Lease(name=name, holder=holder, expires_at=now + ttl))
                return True
            if not (current.holder == holder or current.expires_at < now
                    or _dead_here(current.holder)):
                return False
            taken = session.execute(
                update(Lease).where(Lease.name == name, Lease.holder == current.holder,
                                    Lease.expires_at == current.expires_at)
                .values(holder=holder, expires_at=now + ttl)).rowcount
            return taken == 1
    except IntegrityError:
        return False

def holder_of(sessions: sessionmaker[Session], name: str) -> str | None:
    with sessions() as session:
        current = session.get(Lease, name)
        return current.holder if current and current.expires_at >= utcnow() else None


def release(sessions: sessionmaker[Session], name: str, holder: str | None = None) -> None:
    with sessions() as session, session.begin():
        session.execute(delete(Lease).where(Lease.name == name, Lease.holder == (holder or me())))
