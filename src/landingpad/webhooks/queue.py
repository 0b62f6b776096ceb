"""The deliveries as a queue any number of deliverers share, on SQLite and PostgreSQL.

- ``fan_out``: new events become one delivery per (event, endpoint); a unique
  constraint makes a second deliverer's copy a no-op.
- ``claim``: due rows become this deliverer's (`sending`, until ``claimed_until``).
  Every write runs inside the engine's write lock (SQLite: one writer at a time,
  taken before the transaction); on PostgreSQL the rows are locked with FOR UPDATE
  SKIP LOCKED and the UPDATE re-checks that each is still claimable, so two
  deliverers never hold the same row.
- A row held by a deliverer that died is claimable again: at once when its pid is
  gone on this host, else once its claim has run out. It may then be sent twice,
  with the same webhook-id: at least once, never lost.
"""

from __future__ import annotations

import os
import random
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    bindparam,
    false,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from landingpad.storage.engine import write_lock
from landingpad.storage.models import Delivery, DeliveryState, Event
from landingpad.storage.types import utcnow
from landingpad.webhooks.config import Endpoints
from landingpad.webhooks.send import Outcome

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
FAN_OUT_BATCH = 500


def new_identity() -> str:
    """``host:pid:random``: the host and pid tell whether the holder still runs."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead_here(claimed_by: str) -> bool:
    """Whether a deliverer of this host is gone (another host's: unknown, False)."""
    host, _, rest = claimed_by.partition(":")
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(rest.split(":")[0]), 0)
    except (ValueError, ProcessLookupError):
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True)
class Policy:
    """Back-off: first wait, doubling, capped; given up after ``give_up``."""

    first: float = 30.0
    cap: float = 3600.0
    give_up: timedelta = timedelta(hours=24)

    def wait(self, attempts: int) -> float:
        """Seconds before attempt ``attempts + 1`` (with a little jitter, so retries
        to one endpoint don't all land at once)."""
        base = min(self.cap, self.first * 2 ** max(0, attempts - 1))
        return base * random.uniform(0.9, 1.1)  # noqa: S311 - spreading, not a secret


class Queue:
    def __init__(self, engine: Engine, identity: str | None = None) -> None:
        self.engine = engine
        self.identity = identity or new_identity()

    def _locked(self, query: Select) -> Select:
        if self.engine.dialect.name == "postgresql":
            return query.with_for_update(skip_locked=True)
        return query

    def fan_out(self, session: Session, endpoints: Endpoints, give_up: timedelta) -> int:
        """Make the deliveries of events not yet dispatched; the number of events.

        Events older than ``give_up`` (recorded before any endpoint was configured,
        say) are marked dispatched without deliveries: never sent days late.
        """
        insert = _INSERTS[self.engine.dialect.name]
        now = utcnow()
        with write_lock(self.engine):
            events = session.execute(self._locked(
                select(Event.id, Event.site, Event.created_at).where(Event.dispatched == false())
                .order_by(Event.id).limit(FAN_OUT_BATCH))).all()
            rows = [{"event_id": event_id, "endpoint": url, "state": DeliveryState.PENDING.value,
                     "attempts": 0, "created_at": now}
                    for event_id, site, created_at in events if now - created_at < give_up
                    for url in endpoints.for_site(site)]
            if rows:
                session.execute(insert(Delivery).values(rows).on_conflict_do_nothing(
                    index_elements=["event_id", "endpoint"]))
            if events:
                session.execute(update(Event).where(Event.id.in_([e[0] for e in events]))
                                .values(dispatched=True)
                                .execution_options(synchronize_session=False))
            session.commit()
        return len(events)

    def _claimable(self, now: datetime, dead: Iterable[str]) -> ColumnElement[bool]:
        due = (Delivery.state == DeliveryState.PENDING) & (
            Delivery.next_attempt_at.is_(None) | (Delivery.next_attempt_at <= now))
        abandoned = (Delivery.state == DeliveryState.SENDING) & or_(
            Delivery.claimed_until < now, Delivery.claimed_by.in_(list(dead)))
        return due | abandoned

    def claim(self, session: Session, batch: int, hold: timedelta) -> list[tuple[Delivery, Event]]:
        """Up to ``batch`` due deliveries, now this deliverer's for ``hold``, with their events."""
        now = utcnow()
        holders = session.scalars(select(Delivery.claimed_by).distinct().where(
            Delivery.state == DeliveryState.SENDING, Delivery.claimed_by.is_not(None))).all()
        dead = [h for h in holders if h != self.identity and _dead_here(h)]
        claimable = self._claimable(now, dead)
        with write_lock(self.engine):
            ids = list(session.scalars(self._locked(
                select(Delivery.id).where(claimable).order_by(Delivery.id).limit(batch))))
            if ids:
                session.execute(update(Delivery).where(Delivery.id.in_(ids), claimable)
                                .values(state=DeliveryState.SENDING, claimed_by=self.identity,
                                        claimed_until=now + hold)
                                .execution_options(synchronize_session=False))
            session.commit()
        if not ids:
            return []
        return [tuple(row) for row in session.execute(
            select(Delivery, Event).join(Event, Event.id == Delivery.event_id).where(
                Delivery.id.in_(ids), Delivery.state == DeliveryState.SENDING,
                Delivery.claimed_by == self.identity).order_by(Delivery.id))]

    def record(self, session: Session, results: list[tuple[Delivery, Outcome]],
               policy: Policy) -> list[DeliveryState]:
        """Store attempts' outcomes, in one commit, for the rows that are still ours.

        One commit for the results known at once (a durable commit costs more than a
        fast endpoint's answer); a crash before it means those are sent again, with
        the same webhook-id.
        """
        now = utcnow()
        states, rows = [], []
        for delivery, outcome in results:
            attempts = delivery.attempts + 1
            row = {"b_id": delivery.id, "attempts": attempts, "last_status": outcome.status,
                   "delivered_at": None, "last_error": outcome.error, "next_attempt_at": None}
            if outcome.delivered:
                state = DeliveryState.DELIVERED
                row["delivered_at"] = now
            elif now - delivery.created_at >= policy.give_up:
                state = DeliveryState.FAILED
                row["last_error"] = f"given up after {attempts} attempts: {outcome.error}"
            else:
                state = DeliveryState.PENDING
                row["next_attempt_at"] = now + timedelta(seconds=policy.wait(attempts))
            rows.append({**row, "state": state.value, "b_me": self.identity})
            states.append(state)
        table = Delivery.__table__
        statement = update(table).where(
            table.c.id == bindparam("b_id"), table.c.claimed_by == bindparam("b_me"),
            table.c.state == DeliveryState.SENDING.value).values(
            state=bindparam("state"), attempts=bindparam("attempts"),
            last_status=bindparam("last_status"), delivered_at=bindparam("delivered_at"),
            last_error=bindparam("last_error"), next_attempt_at=bindparam("next_attempt_at"),
            claimed_by=None, claimed_until=None)
        with write_lock(self.engine):
            session.connection().execute(statement, rows)  # one executemany, one commit
            session.commit()
        return states

    def release(self, session: Session) -> None:
        """Give back what this deliverer claimed and didn't finish (a clean stop)."""
        with write_lock(self.engine):
            session.execute(update(Delivery).where(
                Delivery.state == DeliveryState.SENDING, Delivery.claimed_by == self.identity)
                .values(state=DeliveryState.PENDING, claimed_by=None, claimed_until=None)
                .execution_options(synchronize_session=False))
            session.commit()

    def next_due_in(self, session: Session) -> float | None:
        """Seconds until a delivery may be due, or None when none waits."""
        count, soonest = session.execute(select(func.count(), func.min(Delivery.next_attempt_at))
                                         .where(Delivery.state == DeliveryState.PENDING)).one()
        undispatched = session.scalar(select(func.count()).select_from(Event).where(
            Event.dispatched == false()))
        session.rollback()  # end the read: hold no snapshot while waiting
        if undispatched:
            return 0.0
        if not count:
            return None
        if soonest is None:
            return 0.0
        return max(0.0, (soonest - utcnow()).total_seconds())


def counts(session: Session) -> dict[str, int]:
    """Deliveries per state, and events not yet fanned out."""
    found = {state.value: 0 for state in DeliveryState}
    found.update({state: count for state, count in session.execute(
        select(Delivery.state, func.count()).group_by(Delivery.state))})
    found["undispatched events"] = session.scalar(select(func.count()).select_from(Event)
                                                  .where(Event.dispatched == false())) or 0
    found["dispatched events"] = session.scalar(select(func.count()).select_from(Event)
                                                .where(Event.dispatched == true())) or 0
    return found
