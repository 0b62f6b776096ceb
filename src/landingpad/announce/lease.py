"""Who is sending: a sender's identity, its lease, and whether another sender still runs.

On its own host a sender is known alive by its pid; across hosts by its lease
(a row renewed every BEAT_SECONDS while it runs). The rows a dead sender held
may be taken over; a live one's never.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from landingpad.storage.models import SenderLease
from landingpad.storage.types import utcnow

BEAT_SECONDS = 30.0  # how often a running sender renews its lease
LEASE = timedelta(minutes=5)  # a lease older than this: that sender died


def new_identity() -> str:
    """``host:pid:random``: the host and pid say where to look, the random part tells
    apart two senders of one pid (a pid reused after a crash)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def alive(session: Session, claimed_by: str | None) -> bool:
    """Whether the sender that claimed a row still runs.

    On this host: its pid. On another host: its lease. No lease at all is a
    sender of an older release, which keeps none: not ours to judge.
    """
    if not claimed_by:
        return False
    host, _, rest = claimed_by.partition(":")
    if host != socket.gethostname():
        lease = session.get(SenderLease, claimed_by)
        return lease is None or lease.seen_at > utcnow() - LEASE
    try:
        os.kill(int(rest.split(":")[0]), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # someone else's process: it runs
        return True
    return True


@dataclass
class Lease:
    """This sender's lease. Its writes join the caller's transaction (the commit that
    records a message's state), so keeping it costs no commit of its own."""

    identity: str = field(default_factory=new_identity)
    every: float = BEAT_SECONDS
    clock: Callable[[], float] = time.monotonic
    _last: float | None = field(default=None, init=False, repr=False)

    def beat(self, session: Session) -> None:
        """Renew the lease in ``session`` (committed by the caller), at most every ``every`` s."""
        now = self.clock()
        if self._last is not None and now - self._last < self.every:
            return
        self._last = now
        lease = session.get(SenderLease, self.identity)
        if lease is None:
            session.add(SenderLease(identity=self.identity, seen_at=utcnow()))
        else:
            lease.seen_at = utcnow()

    def holds(self, claimed_by: str | None) -> bool:
        return claimed_by == self.identity

    def give_back(self, session: Session) -> None:
        """Delete this sender's lease (a clean stop; committed by the caller)."""
        session.execute(delete(SenderLease).where(SenderLease.identity == self.identity))


def drop_stale(session: Session) -> None:
    """Delete stale leases (committed by the caller): their senders are gone."""
    session.execute(delete(SenderLease).where(SenderLease.seen_at < utcnow() - LEASE))
