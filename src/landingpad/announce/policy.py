"""How fast to send (Pacer) and what a failed delivery does to its row (RetryPolicy).

Both are plain arithmetic over a clock, kept apart from the database and the
transport so they can be tested alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from landingpad.announce.states import Outcome
from landingpad.mail.transports import DeliveryError, FailureKind
from landingpad.storage.models import RecipientState
from landingpad.storage.types import utcnow

MAX_ERROR = 2000  # characters of a server's reply kept on the row


@dataclass
class Pacer:
    """At most ``rate`` messages per second; no limit when ``rate`` is None or 0.

    A sender that fell behind (a slow server) doesn't burst to catch up: the next
    slot is a whole interval after the later of the slot it had and now. One pacer
    may be shared by the threads of several connections: each call takes the next
    slot under a lock, and sleeps outside it.
    """

    rate: float | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _next_at: float | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def wait(self) -> None:
        """Return when the next message may go."""
        if not self.rate:
            return
        with self._lock:
            now = self.clock()
            slot = now if self._next_at is None else max(self._next_at, now)
            self._next_at = slot + 1.0 / self.rate
        self.sleep(slot - now)


@dataclass(frozen=True)
class Decision:
    """A failed row's next state and what it counts as."""

    state: RecipientState
    outcome: Outcome
    error: str
    retry_at: datetime | None = None

    def values(self) -> dict[str, Any]:
        """The row's columns to write (the sender gives up its claim in every case)."""
        values: dict[str, Any] = {"state": self.state, "claimed_by": None,
                                  "last_error": self.error}
        if self.retry_at is not None:
            values["next_attempt_at"] = self.retry_at
        return values


@dataclass(frozen=True)
class RetryPolicy:
    """A 4xx is tried again later (``delay`` seconds, doubling each time), up to
    ``max_attempts`` attempts in all; a refusal fails the row; a connection lost
    mid-message makes it unknown (never resent by itself)."""

    delay: float = 60.0
    max_attempts: int = 5

    def after(self, error: DeliveryError, attempts: int,
              now: datetime | None = None) -> Decision:
        """What to do with a row that failed its ``attempts``-th attempt with ``error``."""
        reply = error.reply[:MAX_ERROR]
        if error.kind is FailureKind.TEMPORARY and attempts < self.max_attempts:
            later = (now or utcnow()) + timedelta(seconds=self.delay * 2 ** (attempts - 1))
            return Decision(RecipientState.PENDING, Outcome.RETRY, reply, later)
        if error.kind is FailureKind.UNKNOWN:
            return Decision(RecipientState.UNKNOWN, Outcome.UNKNOWN, reply)
        return Decision(RecipientState.FAILED, Outcome.FAILED, reply)
