"""CSV export of sign-ups, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import TextIO

from landingpad.storage.models import Signup

COLUMNS = ("site", "email", "interests", "consent_version", "consented_at", "created_at",
           "confirmed_at", "unsubscribed_at", "source")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """Neutralise cells a spreadsheet would run as a formula (OWASP CSV injection)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = "; ".join(value)
    elif hasattr(value, "isoformat"):
        value = value.isoformat()
    return spreadsheet_safe(str(value))


def iter_csv(rows: Iterable[Signup]) -> Iterator[str]:
    """The CSV text line by line: a header, then one line per sign-up (for streaming)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for values in (COLUMNS, *([_cell(getattr(r, c)) for c in COLUMNS] for r in rows)):
        writer.writerow(values)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def write_csv(rows: Iterable[Signup], out: TextIO) -> int:
    """Write a header and one line per sign-up; return the number of rows."""
    count = -1
    for count, line in enumerate(iter_csv(rows)):  # noqa: B007
        out.write(line)
    return count
