"""Checking rows against the database, then writing them all in one transaction.

Rows are checked in chunks while the file is read (existing sign-ups, the suppression
list, consent versions); the accepted ones are written at the end only if no row was
refused, in one transaction, so an import is all or nothing.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from landingpad.imports.rows import Problem, Row
from landingpad.sites import Site
from landingpad.sites.site import consent_version_of
from landingpad.storage.engine import write_lock
from landingpad.storage.models import ConsentText, Signup
from landingpad.storage.suppression import suppressed
from landingpad.storage.types import new_key, utcnow

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
CHUNK = 500  # rows checked at a time: addresses per look-up (an IN list)
_version_of = lru_cache(maxsize=256)(consent_version_of)  # most rows share one text
# Built once: an IN list of 500 literal parameters costs more to compile than to run.
_KEYS = select(Signup.email, Signup.link_key).where(
    Signup.site == bindparam("site"), Signup.email.in_(bindparam("emails", expanding=True)))
_EXISTING = select(Signup.email).where(Signup.site == bindparam("site"),
                                       Signup.email.in_(bindparam("emails", expanding=True)))


class Skipped(enum.StrEnum):
    """Rows left out without failing the import: they are not errors in the file."""

    DUPLICATE = "duplicate in the file"
    EXISTING = "already signed up"
    SUPPRESSED = "suppressed"


REASONS = {
    Skipped.EXISTING: "already signed up (the row here is kept as it is)",
    Skipped.SUPPRESSED: "on the suppression list: this address unsubscribed or was erased "
                        "here, and is never added again by an import",
}


@dataclass
class Report:
    """What an import did (or, in a dry run or when rows were refused, would do)."""

    site: str
    rows: int = 0
    imported: int = 0  # written; in a dry run, how many would be
    written: bool = False
    refused: list[Problem] = field(default_factory=list)
    skipped: dict[Skipped, list[Problem]] = field(
        default_factory=lambda: {kind: [] for kind in Skipped})


class Importer:
    """Collects one file's rows for one site; ``write()`` stores them, all or nothing."""

    def __init__(self, session: Session, site: Site, secret: str) -> None:
        self.session = session
        self.site = site
        self.secret = secret
        self.report = Report(site.domain)
        self._pending: list[Row] = []
        self._accepted: list[tuple[Row, str]] = []  # with its consent version
        self._stored_texts: dict[str, str | None] = {}  # version -> text stored here
        self._new_texts: dict[str, tuple[str, datetime]] = {}  # version -> text, first use

    def refuse(self, problems: list[Problem]) -> None:
        self.report.refused.extend(problems)

    def skip(self, kind: Skipped, problem: Problem) -> None:
        self.report.skipped[kind].append(problem)

    def add(self, row: Row) -> None:
        self._pending.append(row)
        if len(self._pending) >= CHUNK:
            self._check_pending()

    def finish(self) -> Report:
        """Check the last rows; the report then says what ``write()`` would store."""
        self._check_pending()
        self.report.imported = len(self._accepted)
        self.session.rollback()  # the reads' transaction: the write takes its own
        return self.report

    def _check_pending(self) -> None:
        if not self._pending:
            return
        emails = [row.email for row in self._pending]
        existing = set(self.session.scalars(_EXISTING, {"site": self.site.domain,
                                                        "emails": emails}))
        blocked = suppressed(self.session, self.secret, emails)
        for row in self._pending:
            version = self._consent(row)
            if version is None:
                continue
            if row.email in existing:
                self.skip(Skipped.EXISTING, Problem(row.line, "email", REASONS[Skipped.EXISTING]))
            elif row.email in blocked:
                self.skip(Skipped.SUPPRESSED,
                          Problem(row.line, "email", REASONS[Skipped.SUPPRESSED]))
            else:
                self._accepted.append((row, version))
        self._pending.clear()

    def _consent(self, row: Row) -> str | None:
        """The row's consent version, its text kept to store if new; None: refused."""
        if row.consent_text is not None:
            version = _version_of(row.consent_text)
            if row.consent_version not in (None, version):
                if self._stored_text(row.consent_version) != row.consent_text:
                    self.refuse([Problem(row.line, "consent_version",
                                         "names another text than consent_text (leave it "
                                         "empty: the text's own version is used)")])
                    return None
                version = row.consent_version
            if self._stored_text(version) is None:
                self._note_new_text(version, row.consent_text, row.consented_at)
            return version
        version = row.consent_version
        assert version is not None  # rows.RowChecker refuses a row with neither
        if self._stored_text(version) is None:
            if version != self.site.consent_version:
                self.refuse([Problem(row.line, "consent_version",
                                     "no consent text is stored under this version: give the "
                                     "text in a consent_text column")])
                return None
            self._note_new_text(version, self.site.consent_text, row.consented_at)
        return version

    def _stored_text(self, version: str) -> str | None:
        if version not in self._stored_texts:
            stored = self.session.get(ConsentText, version)
            self._stored_texts[version] = stored.text if stored else None
        return self._stored_texts[version]

    def _note_new_text(self, version: str, text: str, consented_at: datetime) -> None:
        known = self._new_texts.get(version)
        if known is None or consented_at < known[1]:
            self._new_texts[version] = (text, consented_at)

    def write(self) -> Report:
        """Store the accepted rows and new consent texts in one transaction.

        Only for a file with no refused row (the caller checks). A row that a visitor
        signed up meanwhile is left as the visitor made it, and reported as existing.
        Every value is made ready for the driver before the write lock is taken: on
        SQLite, the public form's writers wait for it.
        """
        assert not self.report.refused
        engine: Engine = self.session.get_bind()
        insert = _INSERTS[engine.dialect.name]
        now = utcnow()
        texts = [{"version": version, "text": text, "first_used_at": first}
                 for version, (text, first) in self._new_texts.items()]
        statement = _signup_insert(engine)
        keys = [new_key() for _ in self._accepted]
        rows = statement.rows(
            {"site": self.site.domain, "email": row.email, "interests": list(row.interests),
             "consent_version": version, "consented_at": row.consented_at,
             "created_at": now, "updated_at": now, "confirmed_at": row.confirmed_at,
             "source": row.source, "link_key": key, "legacy_links": False}
            for (row, version), key in zip(self._accepted, keys, strict=True))
        inserted = len(rows)
        with write_lock(engine), engine.connect() as connection:
            if texts:
                connection.execute(insert(ConsentText.__table__).on_conflict_do_nothing(
                    index_elements=["version"]), texts)
            inserted = statement.execute(connection, rows)
            raced = set()
            if inserted != len(rows):  # a visitor signed up meanwhile (ON CONFLICT DO NOTHING)
                ours = {row.email: key for (row, _), key in zip(self._accepted, keys, strict=True)}
                emails = list(ours)
                for start in range(0, len(emails), CHUNK):
                    raced.update(email for email, key in connection.execute(
                        _KEYS, {"site": self.site.domain, "emails": emails[start:start + CHUNK]})
                        if ours[email] != key)
            connection.commit()
        for row, _version in self._accepted:
            if row.email in raced:
                self.skip(Skipped.EXISTING, Problem(row.line, "email", REASONS[Skipped.EXISTING]))
        self.report.imported = len(rows) - len(raced)
        self.report.written = True
        return self.report


class _DriverInsert(NamedTuple):
    """The sign-ups' INSERT ... ON CONFLICT DO NOTHING compiled once for a dialect, run
    on the driver with many rows per statement (one round trip per chunk, not per row),
    its values processed by SQLAlchemy's own bind processors."""

    head: str  # up to VALUES
    group: str  # one row's placeholders, positional
    tail: str  # ON CONFLICT ...
    names: tuple[str, ...]
    processors: dict[str, Callable[[Any], Any]]
    per_statement: int  # rows, within the driver's limit on parameters
    # PostgreSQL: one array per column, unnested (psycopg parses a query's placeholders
    # in Python: 11 of them, not 11,000).
    arrays: str | None = None

    def rows(self, values: Iterable[dict[str, Any]]) -> list[tuple]:
        """Driver parameters for each row; a value repeated across rows (the time of the
        import, a list of interests) is processed once."""
        done: dict[tuple[str, Any], Any] = {}
        result = []
        for row in values:
            row["interests"] = tuple(row["interests"])  # hashable, for the cache
            ready = []
            for name in self.names:
                value, process = row[name], self.processors.get(name)
                if process is not None:
                    key = (name, value)
                    if key not in done:
                        done[key] = process(list(value) if name == "interests" else value)
                    value = done[key]
                ready.append(value)
            result.append(tuple(ready))
            if len(done) > 10_000:  # consent times are mostly distinct: don't keep them all
                done.clear()
        return result

    def execute(self, connection: Connection, rows: list[tuple]) -> int:
        """Insert the rows; the number actually inserted (the others existed)."""
        inserted = 0
        for start in range(0, len(rows), self.per_statement):
            chunk = rows[start:start + self.per_statement]
            if self.arrays is not None:
                sql, params = self.arrays, tuple(list(column) for column in zip(*chunk,
                                                                                strict=True))
            else:
                sql = f"{self.head}{', '.join([self.group] * len(chunk))}{self.tail}"
                params = tuple(value for row in chunk for value in row)
            inserted += connection.exec_driver_sql(sql, params).rowcount
        return inserted


_driver_inserts: dict[tuple[str, str], _DriverInsert] = {}
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")  # pyformat (psycopg): made positional


def _signup_insert(engine: Engine) -> _DriverInsert:
    dialect = engine.dialect
    key = (dialect.name, dialect.driver)
    if key not in _driver_inserts:
        table = Signup.__table__
        columns = ("site", "email", "interests", "consent_version", "consented_at",
                   "created_at", "updated_at", "confirmed_at", "source", "link_key",
                   "legacy_links")
        statement = _INSERTS[dialect.name](table).values(
            {name: bindparam(name, type_=table.c[name].type) for name in columns}
        ).on_conflict_do_nothing(index_elements=["site", "email"]).inline()
        compiled = statement.compile(dialect=dialect)
        head, _, rest = compiled.string.partition(" VALUES ")
        group, conflict, tail = rest.rpartition(" ON CONFLICT ")
        tail = conflict + tail
        names = tuple(compiled.positiontup or _PLACEHOLDER.findall(group))
        group = _PLACEHOLDER.sub("%s", group)
        processors = {}
        for name in set(names):
            process = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors[name] = process
        if dialect.name == "postgresql":
            # No length in the casts: a cast to VARCHAR(n) would cut a longer value, where
            # the column refuses it. Built from the table's own types, never from data.
            casts = ", ".join(
                "%b::" + re.sub(r"\(\d+\)", "", table.c[name].type.compile(dialect=dialect))
                + "[]" for name in names)
            arrays = f"{head} SELECT * FROM unnest({casts}){tail}"  # noqa: S608
            _driver_inserts[key] = _DriverInsert(head, group, tail, names, processors, 5000,
                                                 arrays)
        else:  # SQLite before 3.32 takes at most 999 parameters a statement
            _driver_inserts[key] = _DriverInsert(head + " VALUES ", group, tail, names,
                                                 processors, 999 // len(names))
    return _driver_inserts[key]
