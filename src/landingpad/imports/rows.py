"""Reading an import file: the CSV format, and each row's checks that need no database.

The file is read line by line (any size), each line decoded on its own, so a byte
that is not UTF-8 is reported at its own line. Problems name a line and a column,
never a cell's content beyond the address or the interest at fault: a row may carry
other people's data.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from email_validator import EmailNotValidError

from landingpad import values
from landingpad.mail.address import normalise_email
from landingpad.sites import Site

# The header's names (any case, in any order): what each column holds.
COLUMNS = {
    "email": "the address (required)",
    "consented_at": "when consent was given: ISO 8601 date or date and time (required)",
    "consent_text": "the consent sentence agreed to, exactly",
    "consent_version": "or the version of a consent text already stored here",
    "source": "where consent was given, e.g. 'mailchimp export 2026-10' (or --source)",
    "interests": "';'-separated, each one of the site's LANDING_INTERESTS",
    "confirmed_at": "when the address was confirmed by email (required on a double opt-in "
                    "site)",
}
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
MAX_SOURCE = 200  # signups.source
MAX_VERSION = 64  # consent_texts.version
MAX_CONSENT_TEXT = 2000
# A clock a little ahead, or a time written without an offset a little east of UTC, is
# not the future; a date years ahead is a mistake.
CLOCK_SLACK = timedelta(minutes=5)



def _cached(parse: Callable[[str], str]) -> Callable[[str], str]:
    """``parse`` run once per distinct cell: a list's rows mostly share one consent text
    and one source. Its ValueError is raised again for each row that has the cell."""
    return lru_cache(maxsize=256)(parse)


_source_text = _cached(values.text(MAX_SOURCE))
_consent_text = _cached(values.text(MAX_CONSENT_TEXT))
_version_text = _cached(values.text(MAX_VERSION))


class FileError(Exception):
    """The file as a whole can't be imported (its name, encoding, header...)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """Why one row is refused or skipped: its first line in the file, the column at fault."""

    line: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Row:
    """A row that passed every check not needing the database."""

    line: int
    email: str  # normalised
    consented_at: datetime
    consent_text: str | None  # at least one of these two
    consent_version: str | None
    source: str
    interests: tuple[str, ...]
    confirmed_at: datetime | None


def read_records(path: Path, default_source: bool = False
                 ) -> Iterator[tuple[int, dict[str, str] | str]]:
    """Each record of the file after its header: (first line, {column: stripped cell}),
    or (first line, why it is refused) for a record without the header's number of fields.

    Raises FileError for a file that can't be read as this CSV format; the header is
    checked before the first record is returned (``default_source``: --source was given,
    so the header needs no source column).
    """
    try:
        raw = path.open("rb")
    except FileNotFoundError:
        raise FileError("no such file") from None
    except IsADirectoryError:
        raise FileError("a folder, not a file") from None
    except OSError as exc:
        raise FileError(exc.strerror or "can't be read") from None
    with raw:
        lines = _decoded(raw)
        header_line = next(lines, None)
        if header_line is None or not header_line.strip():
            raise FileError("the file is empty (the first line must be the header)")
        delimiter = _delimiter(header_line)
        reader = csv.reader(itertools.chain([header_line], lines), delimiter=delimiter,
                            strict=True)
        try:
            header = [name.strip().lower() for name in next(reader)]
            _check_header(header, default_source)
            first = reader.line_num + 1
            for fields in reader:
                # A blank line, or a spreadsheet's empty row (",,,,"): nothing to import.
                if any(cell.strip() for cell in fields):
                    if len(fields) != len(header):
                        yield first, (f"{len(fields)} fields where the header has "
                                      f"{len(header)} (a missing or extra delimiter, or an "
                                      "unclosed quote?)")
                    else:
                        yield first, {name: cell.strip() for name, cell in zip(header, fields,
                                                                               strict=True)}
                first = reader.line_num + 1
        except csv.Error as exc:
            # The csv module's reason names no cell ("unexpected end of data"...).
            raise FileError(f"not valid CSV at line {reader.line_num}: {exc}") from None


def _decoded(raw: Iterable[bytes]) -> Iterator[str]:
    """The file's lines as text: UTF-8, a BOM at the start dropped; NUL refused."""
    for number, line in enumerate(raw, start=1):
        try:
            text = line.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise FileError(f"line {number} is not UTF-8 text (save the file as CSV UTF-8)") \
                from None
        if "\0" in text:
            raise FileError(f"line {number} holds a NUL character: not a CSV text file")
        yield text


def _delimiter(header_line: str) -> str:
    """The delimiter that splits the header into a known column: comma, semicolon or tab
    (what spreadsheets write, depending on the locale)."""
    for delimiter in DELIMITERS:
        names = next(csv.reader([header_line], delimiter=delimiter))
        if "email" in (name.strip().lower() for name in names):
            return delimiter
    raise FileError("the first line must be a header row naming the columns, 'email' "
                    f"among them (known columns: {', '.join(COLUMNS)}; separated by a "
                    f"{', '.join(DELIMITERS.values())})")


def _check_header(header: list[str], default_source: bool) -> None:
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise FileError(f"unknown column(s) {', '.join(repr(n) for n in unknown)} in the header "
                        f"(known: {', '.join(COLUMNS)}); remove the columns not to import")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise FileError(f"column(s) {', '.join(repeated)} named twice in the header")
    if "consented_at" not in header:
        raise FileError("the header must have a consented_at column (when consent was given)")
    if "consent_text" not in header and "consent_version" not in header:
        raise FileError("the header must have a consent_text or a consent_version column "
                        "(what was agreed to)")
    if "source" not in header and not default_source:
        raise FileError("the header must have a source column (where consent was given), "
                        "or give --source TEXT for every row")


def parse_time(cell: str, latest: datetime | None = None) -> datetime:
    """An ISO 8601 date or date and time, as aware UTC (no offset: UTC), not after
    ``latest`` (default: now, give or take the clock's slack).

    Raises ValueError with a reason.
    """
    try:
        when = datetime.fromisoformat(cell)
    except ValueError:
        raise ValueError("not an ISO 8601 date or date and time "
                         "(like 2026-10-01 or 2026-10-01T09:30:00+02:00)") from None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when > (latest or datetime.now(UTC) + CLOCK_SLACK):
        raise ValueError("is in the future (a time without an offset is read as UTC)")
    return when


class RowChecker:
    """Checks rows against the site and each other (duplicates within the file)."""

    def __init__(self, site: Site, default_source: str | None) -> None:
        self.site = site
        self.default_source = default_source
        self._interests = {name.casefold(): name for name in site.interests}
        self._first_line: dict[str, int] = {}  # normalised address -> its first line
        self._latest = datetime.now(UTC) + CLOCK_SLACK  # no consent from the future

    def check(self, line: int, cells: dict[str, str]
              ) -> tuple[Row | None, list[Problem], Problem | None]:
        """(the row if it passed, its problems (refusals), a duplicate notice)."""
        problems: list[Problem] = []

        def refuse(column: str | None, reason: str) -> None:
            problems.append(Problem(line, column, reason))

        email = None
        cell = cells.get("email", "")
        if not cell:
            refuse("email", "missing")
        else:
            try:
                email = normalise_email(cell)
            except EmailNotValidError as exc:
                refuse("email", f"not a valid address: {exc}")

        consented_at = self._time(cells.get("consented_at", ""), "consented_at", refuse,
                                  required=True)
        confirmed_at = self._time(cells.get("confirmed_at", ""), "confirmed_at", refuse,
                                  required=False)
        if confirmed_at and consented_at and confirmed_at < consented_at:
            refuse("confirmed_at", "earlier than consented_at")
        if self.site.double_optin and not cells.get("confirmed_at"):
            refuse("confirmed_at", f"missing: {self.site.domain} uses double opt-in, so only "
                   "addresses confirmed by email may be imported (no mail is sent to them)")

        text = self._text(cells.get("consent_text", ""), "consent_text", _consent_text, refuse)
        version = self._text(cells.get("consent_version", ""), "consent_version",
                             _version_text, refuse)
        if not cells.get("consent_text") and not cells.get("consent_version"):
            refuse("consent_text", "missing: give the consent text or a consent_version")

        source = cells.get("source") or self.default_source or ""
        if not source:
            refuse("source", "missing (or give --source)")
        else:
            source = self._text(source, "source", _source_text, refuse) or ""

        interests = self._interests_of(cells.get("interests", ""), refuse)

        duplicate = None
        if email is not None:
            first = self._first_line.setdefault(email, line)
            if first != line:
                duplicate = Problem(line, "email", f"same address as line {first}")
        if problems or duplicate or email is None or consented_at is None:
            return None, problems, duplicate
        return Row(line, email, consented_at, text or None, version or None, source, interests,
                   confirmed_at), problems, None

    def _time(self, cell: str, column: str, refuse, required: bool  # noqa: ANN001
              ) -> datetime | None:
        if not cell:
            if required:
                refuse(column, "missing")
            return None
        try:
            return parse_time(cell, self._latest)
        except ValueError as exc:
            refuse(column, str(exc))
            return None

    @staticmethod
    def _text(cell: str, column: str, parse, refuse) -> str | None:  # noqa: ANN001
        if not cell:
            return None
        try:
            return parse(cell)
        except ValueError as exc:
            refuse(column, str(exc))
            return None

    def _interests_of(self, cell: str, refuse) -> tuple[str, ...]:  # noqa: ANN001
        chosen: list[str] = []
        for part in cell.split(";"):
            name = part.strip()
            if not name:
                continue
            known = self._interests.get(name.casefold())
            if known is None:
                offered = ", ".join(self.site.interests) or "none"
                refuse("interests", f"{name[:80]!r} is not an interest of {self.site.domain} "
                       f"(offered: {offered})")
            elif known not in chosen:
                chosen.append(known)
        return tuple(chosen)
