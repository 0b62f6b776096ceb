"""Writing and reading sign-ups: one place for the upsert and the export query."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from landingpad.storage.models import ConsentText, Signup
from landingpad.storage.types import utcnow

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def _insert(session: Session):
    return _INSERTS[session.get_bind().dialect.name]


def record_signup(session: Session, *, site: str, email: str, interests: Sequence[str],
                  consent_version: str, consent_text: str,
                  now: datetime | None = None) -> None:
    """Insert or update the (site, email) row and commit; return only once it is durable.

    A repeated sign-up records the latest interests and consent and keeps
    the first sign-up time; confirmation and unsubscription are left as
    they are (changing those takes the emailed links).
    """
    now = now or utcnow()
    insert = _insert(session)
    # The consent text is stored once per version, in the same transaction.
    session.execute(
        insert(ConsentText)
        .values(version=consent_version, text=consent_text, first_used_at=now)
        .on_conflict_do_nothing(index_elements=["version"])
    )
    stmt = insert(Signup).values(
        site=site, email=email, interests=list(interests), consent_version=consent_version,
        consented_at=now, created_at=now, updated_at=now,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["site", "email"],
        set_={
            "interests": stmt.excluded.interests,
            "consent_version": stmt.excluded.consent_version,
            "consented_at": stmt.excluded.consented_at,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    session.execute(stmt)
    session.commit()


def iter_signups(session: Session, site: str | None = None,
                 batch: int = 1000) -> Iterator[Signup]:
    """Sign-ups ordered by site then id, streamed in batches (exports of any size)."""
    query = select(Signup).order_by(Signup.site, Signup.id)
    if site is not None:
        query = query.where(Signup.site == site)
    yield from session.scalars(query.execution_options(yield_per=batch))


def count_signups(session: Session, site: str | None = None) -> int:
    from sqlalchemy import func

    query = select(func.count()).select_from(Signup)
    if site is not None:
        query = query.where(Signup.site == site)
    return session.scalar(query) or 0
