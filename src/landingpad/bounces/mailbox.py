"""Where reports come from: the bounce mailbox over IMAP (TLS only), or files.

A message read from the mailbox is flagged ``\\Seen`` and ``$LandingpadDone`` once
its report is committed, and only messages without that keyword are read: a
crash in between reads it again, and the report's sha256 (process.py) makes
that a no-op. Nothing is deleted from the mailbox.

Errors say what went wrong and where, never with the password.
"""

from __future__ import annotations

import contextlib
import email
import email.errors
import imaplib
import mailbox
import ssl
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from landingpad.bounces.process import (
    BATCH,
    BATCH_BYTES,
    MAX_REPORT_BYTES,
    Processor,
    Result,
)

DONE = "$LandingpadDone"
TIMEOUT = 30.0


class BounceSourceError(Exception):
    """The mailbox or a file can't be read; nothing was changed."""


@dataclass(frozen=True)
class ImapTarget:
    host: str
    port: int
    user: str
    password: str = field(repr=False)  # never in a traceback or a log line
    folder: str = "INBOX"

    @classmethod
    def from_url(cls, url: str) -> ImapTarget:
        parts = urlsplit(url)
        if parts.scheme != "imaps" or not parts.hostname or parts.password is None:
            # The setting's parser refuses these; a URL given another way gets the same.
            raise BounceSourceError("the bounce mailbox must be imaps://user:password@host/"
                                    "MAILBOX")
        user, password = unquote(parts.username or ""), unquote(parts.password)
        folder = unquote(parts.path.strip("/")) or "INBOX"
        if any(c in text for text in (user, password, folder) for c in "\r\n\0"):
            # %0D%0A would end an IMAP command early and start another one.
            raise BounceSourceError("the bounce mailbox URL has a line break or NUL in it")
        return cls(parts.hostname, parts.port or 993, user, password, folder)

    def where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.folder}"


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def fetch_mailbox(processor: Processor, url: str, cafile: str = "",
                  progress: Callable[[Result], None] | None = None) -> Counter[Result]:
    """Read every new message of the mailbox; BounceSourceError if it can't be reached."""
    target = ImapTarget.from_url(url)
    context = ssl.create_default_context(cafile=cafile or None)
    try:
        imap = imaplib.IMAP4_SSL(target.host, target.port, ssl_context=context,
                                 timeout=TIMEOUT)
    except ssl.SSLError as exc:
        raise BounceSourceError(f"bounce mailbox {target.host}:{target.port}: TLS failed "
                                f"({exc.reason or exc})") from None
    except (OSError, imaplib.IMAP4.error) as exc:
        raise BounceSourceError(f"bounce mailbox {target.host}:{target.port}: cannot "
                                f"connect ({exc})") from None
    counts: Counter[Result] = Counter()
    try:
        try:
            imap.login(target.user, target.password)
        except imaplib.IMAP4.error as exc:
            raise BounceSourceError(f"bounce mailbox {target.where()}: login refused "
                                    f"({_text(exc)})") from None
        status, data = imap.select(_quoted(target.folder))
        if status != "OK":
            raise BounceSourceError(f"bounce mailbox {target.where()}: no such mailbox "
                                    f"({_text(data)})")
        status, data = imap.uid("SEARCH", "UNKEYWORD", DONE)
        if status != "OK":
            raise BounceSourceError(f"bounce mailbox {target.where()}: search failed")
        uids: list[bytes] = []
        raws: list[bytes] = []

        def commit_then_flag() -> None:
            # Flagged only once committed: a crash in between reads them again (no-ops).
            for result in processor.process_batch(raws, "imap"):
                counts[result] += 1
                if progress:
                    progress(result)
            status, _ = imap.uid("STORE", b",".join(uids), "+FLAGS.SILENT",
                                 f"(\\Seen {DONE})")
            if status != "OK":
                raise BounceSourceError(f"bounce mailbox {target.where()}: can't flag what "
                                        f"was read (keyword {DONE}); what was read is kept")
            uids.clear()
            raws.clear()

        for uid in (data[0] or b"").split():
            raw = _fetch(imap, uid)
            if raw is None:
                continue  # expunged meanwhile
            uids.append(uid)
            raws.append(raw)
            if len(raws) >= BATCH or sum(map(len, raws)) >= BATCH_BYTES:
                commit_then_flag()
        if raws:
            commit_then_flag()
    except (OSError, imaplib.IMAP4.abort) as exc:
        raise BounceSourceError(f"bounce mailbox {target.where()}: connection lost "
                                f"({exc}); what was read is kept") from None
    except imaplib.IMAP4.error as exc:  # e.g. a SEARCH answer over imaplib's line limit
        raise BounceSourceError(f"bounce mailbox {target.where()}: the server's answer "
                                f"can't be read ({_text(exc)}); what was read is kept") from None
    finally:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            imap.logout()
    return counts


def _fetch(imap: imaplib.IMAP4, uid: bytes) -> bytes | None:
    # At most one byte past the largest report: a huge message isn't read whole.
    status, data = imap.uid("FETCH", uid, f"(BODY.PEEK[]<0.{MAX_REPORT_BYTES + 1}>)")
    if status != "OK":
        return None
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            return item[1]
    return None


def _text(value: object) -> str:
    if isinstance(value, imaplib.IMAP4.error):
        value = value.args[0] if value.args else ""
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    return str(value)[:200]


def read_files(paths: list[Path]) -> list[tuple[Path, list[bytes]]]:
    """Every message of every file (.eml: one; mbox: each), all read before any is
    processed: one bad file and nothing changes. BounceSourceError says which and why."""
    found = []
    for path in paths:
        try:
            with path.open("rb") as fh:
                head = fh.read(5)
            messages = list(_mbox(path)) if head == b"From " else [path.read_bytes()]
        except OSError as exc:
            raise BounceSourceError(f"{path}: cannot read it ({exc.strerror or exc})") from None
        if not messages:
            raise BounceSourceError(f"{path}: an mbox with no message in it")
        for number, raw in enumerate(messages, 1):
            if not _looks_like_mail(raw):
                where = f"{path}" if len(messages) == 1 else f"{path} (message {number})"
                raise BounceSourceError(f"{where}: not an email message (.eml or mbox)")
        found.append((path, messages))
    return found


def _mbox(path: Path) -> Iterator[bytes]:
    box = mailbox.mbox(path, create=False)
    try:
        for key in box.iterkeys():
            yield box.get_bytes(key)
    finally:
        box.close()


def _looks_like_mail(raw: bytes) -> bool:
    """A header block with at least one header a mail has, then a body."""
    if not raw.strip() or b"\x00" in raw[:4096]:
        return False
    message = email.message_from_bytes(raw)
    if any(isinstance(d, (email.errors.MissingHeaderBodySeparatorDefect,
                          email.errors.InvalidHeaderDefect)) for d in message.defects):
        return False
    return any(message.get(name) for name in ("From", "Subject", "Date", "Content-Type",
                                                "Message-ID", "To"))

