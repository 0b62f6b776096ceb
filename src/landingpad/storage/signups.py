"""Writing and reading sign-ups: one place for the upsert and the export query."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Executable, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from landingpad.storage.engine import write_lock
from landingpad.storage.models import ConsentText, Signup
from landingpad.storage.types import utcnow

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
# Consent versions this process has seen committed: the insert is skipped for them.
_known_consents: set[tuple[str, str]] = set()


@lru_cache(maxsize=4)
def _upsert_statements(dialect: str) -> tuple[Executable, Executable]:
    """The two statements of a sign-up, built once per dialect (the hot write path).

    Core statements on the tables, with bind parameters: building them per
    request costs more than running them.
    """
    insert = _INSERTS[dialect]
    consent = insert(ConsentText.__table__).values(
        version=bindparam("consent_version"), text=bindparam("consent_text"),
        first_used_at=bindparam("now"),
    ).on_conflict_do_nothing(index_elements=["version"])
    signup = insert(Signup.__table__).values(
        site=bindparam("site"), email=bindparam("email"), interests=bindparam("interests"),
        consent_version=bindparam("consent_version"), consented_at=bindparam("now"),
        created_at=bindparam("now"), updated_at=bindparam("now"),
    )
    signup = signup.on_conflict_do_update(
        index_elements=["site", "email"],
        set_={
            "interests": signup.excluded.interests,
            "consent_version": signup.excluded.consent_version,
            "consented_at": signup.excluded.consented_at,
            "updated_at": signup.excluded.updated_at,
        },
    ).returning(Signup.__table__.c.id, Signup.__table__.c.confirmed_at)
    return consent, signup


def record_signup(session: Session, *, site: str, email: str, interests: Sequence[str],
                  consent_version: str, consent_text: str,
                  now: datetime | None = None) -> tuple[int, bool]:
    """Insert or update the (site, email) row and commit; return only once it is durable.

    Returns the row's id and whether the address is already confirmed.

    A repeated sign-up records the latest interests and consent and keeps
    the first sign-up time; confirmation and unsubscription are left as
    they are (changing those takes the emailed links). The consent text is
    stored once per version, in the same transaction.
    """
    engine = session.get_bind()
    consent, signup = _upsert_statements(engine.dialect.name)
    params = {"site": site, "email": email, "interests": list(interests),
              "consent_version": consent_version, "consent_text": consent_text,
              "now": now or utcnow()}
    known = (str(engine.url), consent_version) in _known_consents
    with write_lock(engine):
        connection = session.connection()
        if not known:
            connection.execute(consent, params)
        signup_id, confirmed_at = connection.execute(signup, params).one()
        session.commit()
    _known_consents.add((str(engine.url), consent_version))
    return signup_id, confirmed_at is not None


def iter_signups(session: Session, site: str | None = None,
                 batch: int = 1000) -> Iterator[Signup]:
    """Sign-ups ordered by site then id, streamed in batches (exports of any size)."""
    query = select(Signup).order_by(Signup.site, Signup.id)
    if site is not None:
        query = query.where(Signup.site == site)
    yield from session.scalars(query.execution_options(yield_per=batch))


def count_signups(session: Session, site: str | None = None) -> int:
    query = select(func.count()).select_from(Signup)
    if site is not None:
        query = query.where(Signup.site == site)
    return session.scalar(query) or 0


def link_key_of(session: Session, signup_id: int) -> str | None:
    """The row's key for emailed links (privacy/tokens.py); None once the row is gone."""
    return session.scalar(select(Signup.link_key).where(Signup.id == signup_id))
