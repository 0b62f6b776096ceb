"""One holder at a time across nodes (the certificate orderer), by a row with an expiry.

Taken with a conditional UPDATE (or the first INSERT), which both SQLite and
PostgreSQL run atomically; renewed while the holder works. A holder that died on
this machine (its pid is gone) is taken over at once, one on another machine when
its lease runs out.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from landingpad.storage.models import Lease
from landingpad.storage.types import utcnow

log = logging.getLogger(__name__)

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


class Held:
    """Whether the lease is still ours (``ok``), kept up to date by ``kept``'s heartbeat."""

    def __init__(self) -> None:
        self.ok = True


@contextmanager
def kept(sessions: sessionmaker[Session], name: str, holder: str,
         ttl: timedelta = TTL) -> Iterator[Held]:
    """Renew the lease every third of its TTL while the block runs (an order may take
    longer than the TTL); ``held.ok`` turns False if another holder took it meanwhile
    (this process stalled past the TTL), and the caller stops before writing anything."""
    held, done = Held(), threading.Event()

    def beat() -> None:
        while not done.wait(ttl.total_seconds() / 3):
            try:
                if not acquire(sessions, name, holder, ttl):
                    held.ok = False
                    return
            except Exception as exc:  # the database away a moment: again at the next beat
                log.warning("lease %s not renewed (%s): trying again", name, type(exc).__name__)

    thread = threading.Thread(target=beat, name=f"lease-{name}", daemon=True)
    thread.start()
    try:
        yield held
    finally:
        done.set()
        thread.join()
