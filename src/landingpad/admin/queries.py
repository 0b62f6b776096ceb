"""What the admin pages ask of the sign-ups: counts per domain, a daily series, a search."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from landingpad.storage.models import Signup
from landingpad.storage.types import utcnow

STATES = ("confirmed", "unconfirmed", "unsubscribed")
SORTS = {"created": Signup.created_at, "email": Signup.email, "site": Signup.site}
PER_PAGE = 50


@dataclass
class DomainStats:
    site: str
    total: int = 0
    confirmed: int = 0
    unsubscribed: int = 0
    last_7_days: int = 0


def domain_stats(session: Session, domains: list[str]) -> list[DomainStats]:
    """Counts for every domain with sign-ups or in the sites file, busiest first."""
    week = utcnow() - timedelta(days=7)
    rows = session.execute(
        select(Signup.site, func.count(), func.count(Signup.confirmed_at),
               func.count(Signup.unsubscribed_at),
               func.sum(case((Signup.created_at >= week, 1), else_=0)))
        .group_by(Signup.site)
    ).all()
    stats = {r[0]: DomainStats(r[0], r[1], r[2], r[3], int(r[4] or 0)) for r in rows}
    for name in domains:
        stats.setdefault(name, DomainStats(name))
    return sorted(stats.values(), key=lambda s: (-s.total, s.site))


def daily_counts(session: Session, days: int = 30,
                 site: str | None = None) -> list[tuple[date, int]]:
    """Sign-ups per UTC day for the last ``days`` days, zero-filled, oldest first."""
    today = utcnow().date()
    start = today - timedelta(days=days - 1)
    day = func.date(Signup.created_at)
    query = select(day, func.count()).where(Signup.created_at >= utcnow() - timedelta(days=days))
    if site:
        query = query.where(Signup.site == site)
    counts = {str(d): n for d, n in session.execute(query.group_by(day)).all()}
    return [(start + timedelta(days=i), counts.get(str(start + timedelta(days=i)), 0))
            for i in range(days)]


@dataclass
class Filters:
    q: str = ""
    site: str = ""
    interest: str = ""
    state: str = ""
    sort: str = "created"
    order: str = "desc"
    page: int = 1
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_args(cls, args: dict) -> Filters:
        f = cls(q=(args.get("q") or "").strip()[:254], site=(args.get("site") or "").strip()[:253],
                interest=(args.get("interest") or "").strip()[:80],
                state=args.get("state") or "", sort=args.get("sort") or "created",
                order=args.get("order") or "desc")
        if f.state not in ("", *STATES):
            f.errors.append("Unknown state; showing all.")
            f.state = ""
        if f.sort not in SORTS:
            f.sort = "created"
        if f.order not in ("asc", "desc"):
            f.order = "desc"
        try:
            f.page = max(1, min(int(args.get("page") or 1), 100_000))
        except ValueError:
            f.page = 1
        return f

    def query(self) -> Select:
        query = select(Signup)
        if self.q:
            query = query.where(Signup.email_contains(self.q))
        if self.site:
            query = query.where(Signup.site == self.site.lower())
        if self.interest:
            query = query.where(Signup.interested_in(self.interest))
        if self.state == "confirmed":
            query = query.where(Signup.confirmed_at.is_not(None), Signup.unsubscribed_at.is_(None))
        elif self.state == "unconfirmed":
            query = query.where(Signup.confirmed_at.is_(None), Signup.unsubscribed_at.is_(None))
        elif self.state == "unsubscribed":
            query = query.where(Signup.unsubscribed_at.is_not(None))
        column = SORTS[self.sort]
        return query.order_by(column.asc() if self.order == "asc" else column.desc(),
                              Signup.id.desc())

    def args(self, **changes: object) -> dict:
        """Query-string values for links that keep the current filters."""
        values = {"q": self.q, "site": self.site, "interest": self.interest, "state": self.state,
                  "sort": self.sort, "order": self.order, "page": self.page, **changes}
        return {k: v for k, v in values.items() if v not in ("", None)}


def search(session: Session, filters: Filters) -> tuple[list[Signup], int]:
    query = filters.query()
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = session.scalars(query.limit(PER_PAGE).offset((filters.page - 1) * PER_PAGE)).all()
    return list(rows), total or 0
