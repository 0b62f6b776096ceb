"""Column types shared by the models."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import DateTime, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite keeps no time zone of its own)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use datetime.now(UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_key() -> str:
    """32 random hex digits (128 bits), made in Python for the rows the app inserts."""
    return secrets.token_hex(16)


class random_key(FunctionElement):  # lower case: used like a SQL function
    """The same kind of value made by the database: a server default for existing rows
    (filled in by a migration) and for rows inserted by nodes of an older release."""

    type = String()
    inherit_cache = True


@compiles(random_key, "sqlite")
def _random_key_sqlite(element, compiler, **kw) -> str:  # noqa: ANN001
    return "lower(hex(randomblob(16)))"


@compiles(random_key, "postgresql")
def _random_key_postgresql(element, compiler, **kw) -> str:  # noqa: ANN001
    return "replace(CAST(gen_random_uuid() AS TEXT), '-', '')"  # PostgreSQL 13+
