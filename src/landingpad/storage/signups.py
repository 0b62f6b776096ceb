"""Writing and reading sign-ups: one place for the upsert and the export query."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, Executable, bindparam, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from landingpad.storage.engine import write_lock
from landingpad.storage.models import ConsentText, Signup, Suppression
from landingpad.storage.types import utcnow

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
# Consent versions each engine has seen committed in this process: the insert is
# skipped for them (a weak key: an engine a test disposes of is forgotten).
_known_consents: weakref.WeakKeyDictionary[Engine, set[str]] = weakref.WeakKeyDictionary()


class Stored(NamedTuple):
    """What the sign-up's one statement answers, from the row as committed."""

    id: int
    confirmed: bool
    link_key: str
    suppressed: bool  # the address is on the suppression list (None given: False)


@lru_cache(maxsize=8)
def _upsert_statements(dialect: str, with_suppression: bool = False
                       ) -> tuple[Executable, Executable]:
    """The two statements of a sign-up, built once per dialect (the hot write path).

    Core statements on the tables, with bind parameters: building them per
    request costs more than running them. ``with_suppression``: the upsert also
    answers whether ``address_hash`` is on the suppression list, in the same
    statement (no second round trip, nor a second look-up after the response).
    """
    insert = _INSERTS[dialect]
    consent = insert(ConsentText.__table__).values(
        version=bindparam("consent_version"), text=bindparam("consent_text"),
        lang=bindparam("lang"), first_used_at=bindparam("now"),
    ).on_conflict_do_nothing(index_elements=["version"])
    signup = insert(Signup.__table__).values(
        site=bindparam("site"), email=bindparam("email"), interests=bindparam("interests"),
        consent_version=bindparam("consent_version"), consented_at=bindparam("now"),
        created_at=bindparam("now"), updated_at=bindparam("now"), lang=bindparam("lang"),
    )
    signup = signup.on_conflict_do_update(
        index_elements=["site", "email"],
        set_={
            "interests": signup.excluded.interests,
            "consent_version": signup.excluded.consent_version,
            "consented_at": signup.excluded.consented_at,
            "lang": signup.excluded.lang,
            "updated_at": signup.excluded.updated_at,
        },
    )
    table = Signup.__table__
    if with_suppression:
        on_list = exists().where(Suppression.__table__.c.address_hash
                                 == bindparam("address_hash"))
        return consent, signup.returning(table.c.id, table.c.confirmed_at, table.c.link_key,
                                         on_list.label("suppressed"))
    return consent, signup.returning(table.c.id, table.c.confirmed_at)


def record_signup(session: Session, *, site: str, email: str, interests: Sequence[str],
                  consent_version: str, consent_text: str, lang: str | None = None,
                  now: datetime | None = None) -> tuple[int, bool]:
    """Insert or update the (site, email) row and commit; return only once it is durable.

    Returns the row's id and whether the address is already confirmed.

    A repeated sign-up records the latest interests and consent and keeps
    the first sign-up time; confirmation and unsubscription are left as
    they are (changing those takes the emailed links). The consent text is
    stored once per version, in the same transaction.
    """
    engine = session.get_bind()
    params = {"site": site, "email": email, "interests": list(interests),
              "consent_version": consent_version, "consent_text": consent_text,
              "lang": lang, "now": now or utcnow()}
    with write_lock(engine):
        signup_id, confirmed_at = _upsert(engine, session.connection(), params, False)
        session.commit()
    _consent_committed(engine, consent_version)
    return signup_id, confirmed_at is not None


def store_signup(engine: Engine, *, site: str, email: str, interests: Sequence[str],
                 consent_version: str, consent_text: str, address_hash: str,
                 lang: str | None = None, now: datetime | None = None) -> Stored:
    """:func:`record_signup` for the public form: one statement and a commit on a pooled
    connection (no ORM session), answering what the confirmation mail needs.

    ``address_hash`` is the address's keyed hash (storage.suppression.address_hash): the
    same statement says whether it is on the suppression list, for every address
    alike, so a request's queries and their duration never depend on it.
    """
    params = {"site": site, "email": email, "interests": list(interests),
              "consent_version": consent_version, "consent_text": consent_text,
              "lang": lang, "now": now or utcnow(), "address_hash": address_hash}
    if consent_version in _known_consents.get(engine, ()):
        signup_id, confirmed_at, link_key, suppressed = _driver_upsert(engine, params)
    else:  # the first sign-up under this consent text in this process
        with write_lock(engine), engine.connect() as connection:
            signup_id, confirmed_at, link_key, suppressed = _upsert(engine, connection, params,
                                                                    True)
            connection.commit()
        _consent_committed(engine, consent_version)
    return Stored(signup_id, confirmed_at is not None, link_key, bool(suppressed))


class _DriverStatement(NamedTuple):
    sql: str
    names: tuple[str, ...]  # the parameters, in order for a positional paramstyle
    positional: bool
    processors: dict[str, Callable[[Any], Any]]  # SQLAlchemy's own bind processors
    defaults: dict[str, Callable[[], Any]]  # the table's Python-side column defaults


_driver_statements: dict[tuple[str, str], _DriverStatement] = {}


def _driver_statement(engine: Engine) -> _DriverStatement:
    """The upsert compiled once for this dialect, to run on the DBAPI cursor itself."""
    dialect = engine.dialect
    key = (dialect.name, dialect.driver)
    if key not in _driver_statements:
        compiled = _upsert_statements(dialect.name, True)[1].compile(dialect=dialect)
        names = tuple(compiled.positiontup or compiled.binds)
        processors = {}
        for name in set(names):
            process = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors[name] = process
        defaults = {}
        for column in Signup.__table__.columns:
            default = column.default
            if column.key in names and default is not None and default.is_scalar:
                defaults[column.key] = lambda value=default.arg: value
            elif column.key in names and default is not None and default.is_callable:
                defaults[column.key] = lambda fn=default.arg: fn(None)
        _driver_statements[key] = _DriverStatement(compiled.string, names,
                                                   compiled.positiontup is not None,
                                                   processors, defaults)
    return _driver_statements[key]


def _driver_upsert(engine: Engine, params: dict) -> tuple:
    """The upsert as a driver-level statement (exec_driver_sql), and its commit.

    The hot path: compiling, caching and processing a Core statement on every
    execution cost more than SQLite's own work. The statement, its bind processors
    and column defaults are SQLAlchemy's, so the row written is the same, and the
    execution still goes through the engine (its events, errors with parameters
    hidden). The connection is taken before the write lock, so the lock is held for
    the statement and the commit only.
    """
    statement = _driver_statement(engine)
    values = {**{name: make() for name, make in statement.defaults.items()}, **params}
    for name, process in statement.processors.items():
        values[name] = process(values[name])
    bound = (tuple(values[name] for name in statement.names) if statement.positional
             else {name: values[name] for name in statement.names})
    with engine.connect() as connection, write_lock(engine):
        row = connection.exec_driver_sql(statement.sql, bound).one()
        connection.commit()
    return tuple(row)


def _upsert(engine: Engine, connection: Connection, params: dict,
            with_suppression: bool) -> tuple:
    """Run the sign-up's statements in ``connection``'s transaction (not committed)."""
    consent, signup = _upsert_statements(engine.dialect.name, with_suppression)
    if params["consent_version"] not in _known_consents.get(engine, ()):
        connection.execute(consent, params)
    return connection.execute(signup, params).one()


def _consent_committed(engine: Engine, version: str) -> None:
    _known_consents.setdefault(engine, set()).add(version)


def iter_signups(session: Session, site: str | None = None,
                 batch: int = 1000) -> Iterator[Signup]:
    """Sign-ups ordered by site then id, streamed in batches (exports of any size)."""
    query = select(Signup).order_by(Signup.site, Signup.id)
    if site is not None:
        query = query.where(Signup.site == site)
    yield from session.scalars(query.execution_options(yield_per=batch))


def link_key_of(session: Session, signup_id: int) -> str | None:
    """The row's key for emailed links (web/links.py); None once the row is gone."""
    return session.scalar(select(Signup.link_key).where(Signup.id == signup_id))
