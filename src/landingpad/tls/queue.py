"""Which host gets a certificate next: the queue, the CA's limits as counted here, back-off.

Everything here is decided from the database, so any node may run the next pass.
The CA's limits (Let's Encrypt's by default, settings ACME_*_RATE) are counted
from our own order log, so the CA never has to refuse us: an order that would
break one is simply not placed yet, and the queue says when it will be.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from publicsuffixlist import PublicSuffixList
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from landingpad.storage.models import Certificate, CertOrder, CertState
from landingpad.storage.types import utcnow
from landingpad.values import rate_window

# After a failed probe or validation: 30 s, 1 min, 2 min ... at most 6 h, with jitter,
# so a domain that starts pointing here gets its certificate soon, and one that
# never does costs almost nothing.
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=6)
CA_DOWN_BACKOFF = timedelta(seconds=20)  # the CA unreachable: not the domain's fault
REFUSED_BACKOFF = timedelta(days=1)
ORDER_LOG_DAYS = 8  # longer than the longest window counted
ISSUE_SECONDS = 2.0  # a rough duration of one order, for the estimate

_psl: PublicSuffixList | None = None


def registered_domain(host: str) -> str:
    """example.co.uk for www.example.co.uk: what the CA's per-domain limit counts."""
    global _psl
    if _psl is None:
        _psl = PublicSuffixList()
    return _psl.privatesuffix(host) or host


@dataclass(frozen=True)
class Limits:
    """The CA's limits: (amount, window) each."""

    orders: tuple[int, timedelta]
    per_domain: tuple[int, timedelta]
    failures: tuple[int, timedelta]
    duplicates: tuple[int, timedelta] = (5, timedelta(days=7))  # the same name again

    @classmethod
    def from_config(cls, config: dict) -> Limits:
        return cls(rate_window(config["ACME_ORDER_RATE"]),
                   rate_window(config["ACME_DOMAIN_RATE"]),
                   rate_window(config["ACME_FAILURE_RATE"]),
                   rate_window(config["ACME_DUPLICATE_RATE"]))


def backoff(failures: int, base: timedelta = FIRST_BACKOFF) -> timedelta:
    """Exponential, capped, with up to 20 % jitter (nodes and domains don't retry in step)."""
    delay = min(base * (2 ** min(max(failures - 1, 0), 20)), MAX_BACKOFF)
    return delay * (1 + random.random() * 0.2)  # noqa: S311 - jitter, not a secret


def renew_at(not_before: datetime, not_after: datetime) -> datetime:
    """When a third of the lifetime is left, a little earlier at random (jitter)."""
    lifetime = not_after - not_before
    return not_after - lifetime / 3 - lifetime * (random.random() / 30)  # noqa: S311


def sync(session: Session, wanted: Iterable[str], now: datetime | None = None
         ) -> tuple[list[str], list[str]]:
    """Make the queue hold exactly the ``wanted`` hosts: (added, removed)."""
    now = now or utcnow()
    wanted = set(wanted)
    have = set(session.scalars(select(Certificate.host)))
    added = sorted(wanted - have)
    removed = sorted(have - wanted)
    for host in added:
        session.add(Certificate(host=host, state=CertState.PENDING.value, failures=0,
                                next_attempt_at=now, updated_at=now))
    if removed:
        session.execute(delete(Certificate).where(Certificate.host.in_(removed)))
    return added, removed


def due(session: Session, now: datetime | None = None, hosts: Iterable[str] | None = None
        ) -> list[Certificate]:
    """Rows whose next attempt has come, oldest first."""
    now = now or utcnow()
    query = select(Certificate).where(Certificate.next_attempt_at <= now)
    if hosts is not None:
        query = query.where(Certificate.host.in_(list(hosts)))
    return list(session.scalars(query.order_by(Certificate.next_attempt_at, Certificate.host)))


def count_orders(session: Session, since: datetime, *, domain: str | None = None,
                 host: str | None = None, outcome: str | None = None) -> int:
    query = select(func.count()).select_from(CertOrder).where(CertOrder.created_at >= since)
    if domain is not None:
        query = query.where(CertOrder.registered_domain == domain)
    if host is not None:
        query = query.where(CertOrder.host == host)
    if outcome is not None:
        query = query.where(CertOrder.outcome == outcome)
    return session.scalar(query) or 0


def _free_at(session: Session, amount: int, window: timedelta, now: datetime,
             **where: str) -> datetime:
    """When the oldest counted order leaves the window (the next order is allowed then)."""
    query = select(CertOrder.created_at).where(CertOrder.created_at >= now - window)
    for name, value in where.items():
        query = query.where(getattr(CertOrder, name) == value)
    times = list(session.scalars(query.order_by(CertOrder.created_at.desc()).limit(amount)))
    return (times[-1] + window) if len(times) >= amount else now


def blocked_until(session: Session, limits: Limits, host: str, now: datetime | None = None
                  ) -> tuple[datetime, str] | None:
    """(until when, which limit) if ordering ``host`` now would break one of the CA's limits."""
    now = now or utcnow()
    amount, window = limits.orders
    if count_orders(session, now - window) >= amount:
        return _free_at(session, amount, window, now), \
            f"account limit: {amount} new orders per {_span(window)}"
    amount, window = limits.per_domain
    domain = registered_domain(host)
    if count_orders(session, now - window, domain=domain, outcome="issued") >= amount:
        return _free_at(session, amount, window, now, registered_domain=domain,
                        outcome="issued"), \
            f"{amount} certificates per {_span(window)} for {domain}"
    amount, window = limits.duplicates
    if count_orders(session, now - window, host=host, outcome="issued") >= amount:
        return _free_at(session, amount, window, now, host=host, outcome="issued"), \
            f"{amount} certificates per {_span(window)} for the same name"
    amount, window = limits.failures
    if count_orders(session, now - window, host=host, outcome="failed") >= amount:
        return _free_at(session, amount, window, now, host=host, outcome="failed"), \
            f"{amount} failed validations per {_span(window)}"
    return None


def _span(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0 and seconds >= size:
            count = seconds // size
            return f"{count} {unit}s" if count > 1 else unit
    return f"{seconds} s"


def record_order(session: Session, host: str, now: datetime | None = None) -> CertOrder:
    order = CertOrder(host=host, registered_domain=registered_domain(host),
                      created_at=now or utcnow(), outcome="pending")
    session.add(order)
    session.execute(delete(CertOrder).where(
        CertOrder.created_at < (now or utcnow()) - timedelta(days=ORDER_LOG_DAYS)))
    return order


def last_pending_estimate(session: Session, limits: Limits, now: datetime | None = None
                          ) -> datetime | None:
    """When the last host still waiting for its first certificate should have it.

    Counts the orders the account limit still allows in its window, and for the rest
    how many whole windows they need; back-off of failing hosts is not predicted.
    """
    now = now or utcnow()
    waiting = session.scalar(select(func.count()).select_from(Certificate).where(
        Certificate.state == CertState.PENDING.value)) or 0
    if not waiting:
        return None
    amount, window = limits.orders
    # A sliding window: each order frees its slot ``window`` after it was placed.
    slots = deque(session.scalars(select(CertOrder.created_at).where(
        CertOrder.created_at >= now - window).order_by(CertOrder.created_at)))
    when = now
    for _ in range(waiting):
        when = now
        if len(slots) >= amount:
            when = max(now, slots.popleft() + window)
        slots.append(when)
    return when + timedelta(seconds=ISSUE_SECONDS)
