"""CSV export of sign-ups, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import TextIO

from landingpad.storage.models import Signup

COLUMNS = ("site", "email", "interests", "consent_version", "consented_at", "created_at",
           "confirmed_at", "unsubscribed_at")
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


def write_csv(rows: Iterable[Signup], out: TextIO) -> int:
    """Write a header and one line per sign-up; return the number of rows."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    for row in rows:
        writer.writerow([_cell(getattr(row, column)) for column in COLUMNS])
        count += 1
    return count
