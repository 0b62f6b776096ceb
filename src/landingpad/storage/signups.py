"""Writing and reading sign-ups: one place for the upsert and the export query."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import Boolean, Connection, Engine, Executable, bindparam, exists, null, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from landingpad.storage.engine import sqlite_file, write_lock
from landingpad.storage.events import created_payload
from landingpad.storage.models import ConsentText, Event, EventKind, Signup, Suppression
from landingpad.storage.types import new_key, utcnow

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
    created: bool = False  # this statement inserted the row (a new sign-up, not a repeat)


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
            # The consent now on record was given on this site's form, not in an import.
            "source": null(),
        },
    )
    table = Signup.__table__
    # A repeat keeps the first created_at: the row is new when it holds this statement's.
    created = (table.c.created_at == bindparam("now")).label("created")
    if with_suppression:
        on_list = exists().where(Suppression.__table__.c.address_hash
                                 == bindparam("address_hash"))
        return consent, signup.returning(table.c.id, table.c.confirmed_at, table.c.link_key,
                                         on_list.label("suppressed"), created)
    return consent, signup.returning(table.c.id, table.c.confirmed_at, created)


@lru_cache(maxsize=8)
def _event_statement(dialect: str) -> Executable:
    """The ``signup.created`` event's INSERT, run in the sign-up's transaction.

    Run after every sign-up, new or repeated: it inserts a row only when the
    ``created`` parameter is true, so a known address runs the same statements
    as a new one (a request's queries never tell whether an address was known).
    """
    columns = Event.__table__.c
    names = ("key", "kind", "site", "signup_id", "payload", "created_at", "dispatched")
    values = select(*(bindparam("now" if name == "created_at" else name,
                                type_=columns[name].type) for name in names))
    return _INSERTS[dialect](Event.__table__).from_select(
        list(names), values.where(bindparam("created", type_=Boolean())))


def _event_params(params: dict, signup_id: int, created: bool,
                  awaiting_confirmation: bool) -> dict:
    payload = created_payload(signup_id, params["site"], params["email"], params["interests"],
                              params["consent_version"], params["now"], awaiting_confirmation)
    return {"key": new_key(), "kind": EventKind.CREATED.value, "site": params["site"],
            "signup_id": signup_id, "payload": payload, "now": params["now"],
            "dispatched": False, "created": bool(created)}


def record_signup(session: Session, *, site: str, email: str, interests: Sequence[str],
                  consent_version: str, consent_text: str, lang: str | None = None,
                  now: datetime | None = None, awaiting_confirmation: bool = False
                  ) -> tuple[int, bool]:
    """Insert or update the (site, email) row and commit; return only once it is durable.

    Returns the row's id and whether the address is already confirmed.

    A repeated sign-up records the latest interests and consent and keeps
    the first sign-up time; confirmation and unsubscription are left as
    they are (changing those takes the emailed links). The consent text is
    stored once per version, in the same transaction, and so is a new row's
    ``signup.created`` event (storage.events).
    """
    engine = session.get_bind()
    params = {"site": site, "email": email, "interests": list(interests),
              "consent_version": consent_version, "consent_text": consent_text,
              "lang": lang, "now": now or utcnow()}
    with write_lock(engine):
        connection = session.connection()
        signup_id, confirmed_at, created = _upsert(engine, connection, params, False)
        connection.execute(_event_statement(engine.dialect.name),
                           _event_params(params, signup_id, created, awaiting_confirmation))
        session.commit()
    _consent_committed(engine, consent_version)
    return signup_id, confirmed_at is not None


def store_signup(engine: Engine, *, site: str, email: str, interests: Sequence[str],
                 consent_version: str, consent_text: str, address_hash: str,
                 lang: str | None = None, now: datetime | None = None,
                 double_optin: bool = False) -> Stored:
    """:func:`record_signup` for the public form: one statement and a commit on a pooled
    connection (no ORM session), answering what the confirmation mail needs.

    ``address_hash`` is the address's keyed hash (storage.suppression.address_hash): the
    same statement says whether it is on the suppression list, for every address
    alike, so a request's queries and their duration never depend on it.

    A new row's ``signup.created`` event is inserted in the same transaction (one
    more statement, no more commits); a repeated sign-up runs it too, inserting nothing.
    ``double_optin``: the site asks for confirmation (said in the event).
    """
    params = {"site": site, "email": email, "interests": list(interests),
              "consent_version": consent_version, "consent_text": consent_text,
              "lang": lang, "now": now or utcnow(), "address_hash": address_hash}
    if consent_version in _known_consents.get(engine, ()):
        row = _driver_upsert(engine, params, double_optin)
    else:  # the first sign-up under this consent text in this process
        with write_lock(engine), engine.connect() as connection:
            row = tuple(_upsert(engine, connection, params, True))
            connection.execute(_event_statement(engine.dialect.name), _event_params(
                params, row[0], row[4], double_optin or bool(row[3])))
            connection.commit()
        _consent_committed(engine, consent_version)
    signup_id, confirmed_at, link_key, suppressed, created = row
    return Stored(signup_id, confirmed_at is not None, link_key, bool(suppressed),
                  bool(created))


class _DriverStatement(NamedTuple):
    sql: str
    names: tuple[str, ...]  # the parameters, in order for a positional paramstyle
    positional: bool
    processors: dict[str, Callable[[Any], Any]]  # SQLAlchemy's own bind processors
    defaults: dict[str, Callable[[], Any]]  # the table's Python-side column defaults


_driver_statements: dict[tuple[str, str, str], _DriverStatement] = {}


def _driver_statement(engine: Engine, which: str = "signup") -> _DriverStatement:
    """The upsert (or the event's insert) compiled once for this dialect, to run on the
    DBAPI cursor itself."""
    dialect = engine.dialect
    key = (dialect.name, dialect.driver, which)
    if key not in _driver_statements:
        statement, table = ((_upsert_statements(dialect.name, True)[1], Signup.__table__)
                            if which == "signup" else
                            (_event_statement(dialect.name), Event.__table__))
        compiled = statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup or compiled.binds)
        processors = {}
        for name in set(names):
            process = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors[name] = process
        defaults = {}
        for column in table.columns:
            default = column.default
            if column.key in names and default is not None and default.is_scalar:
                defaults[column.key] = lambda value=default.arg: value
            elif column.key in names and default is not None and default.is_callable:
                defaults[column.key] = lambda fn=default.arg: fn(None)
        _driver_statements[key] = _DriverStatement(compiled.string, names,
                                                   compiled.positiontup is not None,
                                                   processors, defaults)
    return _driver_statements[key]


def _driver_params(statement: _DriverStatement, params: dict) -> tuple | dict:
    values = {**{name: make() for name, make in statement.defaults.items()}, **params}
    for name, process in statement.processors.items():
        values[name] = process(values[name])
    return (tuple(values[name] for name in statement.names) if statement.positional
            else {name: values[name] for name in statement.names})


def _driver_upsert(engine: Engine, params: dict, double_optin: bool) -> tuple:
    """The upsert as a driver-level statement (exec_driver_sql), a new row's event,
    and their commit.

    The hot path: compiling, caching and processing a Core statement on every
    execution cost more than SQLite's own work. The statement, its bind processors
    and column defaults are SQLAlchemy's, so the row written is the same, and the
    execution still goes through the engine (its events, errors with parameters
    hidden).

    SQLite takes one writer at a time and each durable commit is an fsync: the
    sign-ups of a process's threads share transactions (GroupCommit). PostgreSQL:
    each its own transaction (its server flushes concurrent commits together).
    """
    statement = _driver_statement(engine)
    event = _driver_statement(engine, "event")
    bound = _driver_params(statement, params)

    def run(connection: Connection) -> tuple:
        row = tuple(connection.exec_driver_sql(statement.sql, bound).one())
        # A new row's event, in the same transaction (a repeat's inserts nothing).
        connection.exec_driver_sql(event.sql, _driver_params(event, _event_params(
            params, row[0], row[4], double_optin or bool(row[3]))))
        return row

    if sqlite_file(engine):
        return group_commit(engine).submit(run)
    with engine.connect() as connection:
        row = run(connection)
        connection.commit()
    return row


T = TypeVar("T")


class _Pending(Generic[T]):
    __slots__ = ("done", "error", "result", "work")

    def __init__(self, work: Callable[[Connection], T]) -> None:
        self.work = work
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None


class BatchFailed(Exception):
    """Another write of this batch failed: the whole transaction was rolled back."""


class GroupCommit:
    """SQLite's group commit for the writes of this process's threads (the sign-ups).

    SQLite takes one writer at a time, and a durable commit is an fsync. Threads
    queue their work; whoever gets the commit lock first runs every queued piece in
    one transaction with one commit (under the write lock, as every writer), and
    each thread returns only once its own work's commit is on disk. A batch with
    a failing write is rolled back with the rest; it alone raises, and the others run
    again in a new transaction. A failed commit (or an interrupted leader) fails the
    whole batch (the leader its own error, the others BatchFailed): nothing is
    acknowledged that was not committed. With one thread per process, a batch is
    one write, as before.
    """

    def __init__(self, engine: Engine) -> None:
        # Weak: the registry below is keyed by the engine and must not keep it alive.
        self.engine = weakref.ref(engine)
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._commit_lock = threading.Lock()

    def submit(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a shared transaction; return its result once committed."""
        pending = _Pending(work)
        with self._queue_lock:
            self._queue.append(pending)
        with self._commit_lock:
            if not pending.done:  # nobody has committed it yet: lead the next batch
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._run(batch, pending)
        if pending.error is not None:
            raise pending.error
        if not pending.done:  # its leader died before saying: not known to be committed
            raise BatchFailed("the batch's leader stopped before its commit was known")
        return pending.result  # type: ignore[return-value]

    def _run(self, batch: list[_Pending], leader: _Pending) -> None:
        pending = list(batch)
        while pending:
            failed: _Pending | None = None
            try:
                # The connection first, then the lock: the lock is held for the work only.
                with self.engine().connect() as connection, write_lock(self.engine()):
                    try:
                        results = []
                        for item in pending:
                            failed = item
                            results.append(item.work(connection))
                        failed = None
                        connection.commit()
                    except BaseException:
                        connection.rollback()
                        raise
            except Exception as exc:
                if failed is None:  # connecting or the commit failed: the whole batch
                    self._fail(pending, leader, exc)
                    return
                # One write failed (rolled back with the rest): it alone fails, the
                # others run again in a new transaction, so no sign-up fails for another.
                failed.error, failed.done = exc, True
                pending.remove(failed)
                continue
            except BaseException as exc:  # SystemExit, KeyboardInterrupt: the leader's own
                self._fail(pending, leader, exc)
                return
            for item, result in zip(pending, results, strict=True):
                item.result, item.done = result, True
            return

    @staticmethod
    def _fail(batch: list[_Pending], leader: _Pending, exc: BaseException) -> None:
        for item in batch:
            if item is leader:
                item.error = exc
            else:
                item.error = BatchFailed("rolled back with another write of its batch")
                item.error.__cause__ = exc
            item.done = True


_group_commits: weakref.WeakKeyDictionary[Engine, GroupCommit] = weakref.WeakKeyDictionary()
_group_commits_lock = threading.Lock()
# A forked child (a uWSGI worker) starts with none: no queue or lock of its parent's.
os.register_at_fork(after_in_child=_group_commits.clear)


def group_commit(engine: Engine) -> GroupCommit:
    """The one GroupCommit of this process for ``engine`` (a SQLite file)."""
    found = _group_commits.get(engine)
    if found is None:
        with _group_commits_lock:
            found = _group_commits.setdefault(engine, GroupCommit(engine))
    return found


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
