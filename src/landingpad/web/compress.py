"""gzip for the public pages: the app compresses its own text responses.

Done in the app, not only by nginx, so that ``landingpad serve`` compresses too, and
so that the landing page's bytes can be kept compressed in the page cache (see
``gzip_parts``): the hot path then joins bytes instead of running zlib. nginx passes
an already encoded response through untouched.

Static files are shipped with a ``.gz`` twin, written by ``write_static_twins()``
(``python -c "from landingpad.web.compress import write_static_twins as w; w()"`` after
editing a file in static/; a test keeps them current): nginx's ``gzip_static`` and
uWSGI's ``static-gzip-all`` send those as they are.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

# Smaller bodies gain little (and a 20-byte header and trailer are added).
MIN_BYTES = 512
# What is worth compressing: text, never images or already packed formats.
TEXT_TYPES = ("text/", "application/json", "application/javascript", "image/svg+xml")
STATIC_SUFFIXES = (".css", ".js", ".svg")
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # no name, no mtime: reproducible
VARY = ("Vary", "Accept-Encoding")
_GZIP_Q = re.compile(r"(?:^|,)\s*(gzip|\*)\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*(?=,|$)", re.I)


@lru_cache(maxsize=256)
def accepts_gzip(header: str | None) -> bool:
    """Whether an Accept-Encoding value allows gzip (``gzip;q=0`` does not)."""
    if not header:
        return False
    best: dict[str, float] = {}
    for match in _GZIP_Q.finditer(header):
        try:
            q = float(match.group(2)) if match.group(2) is not None else 1.0
        except ValueError:
            q = 0.0
        best[match.group(1).lower()] = q
    return best.get("gzip", best.get("*", 0.0)) > 0


def gzip_bytes(data: bytes, level: int = 6) -> bytes:
    """A gzip member of ``data`` with a fixed header (the same bytes every time)."""
    deflate = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = deflate.compress(data) + deflate.flush()
    return GZIP_HEADER + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def gzip_parts(head: bytes, tail: bytes) -> tuple[bytes, bytes, int]:
    """Compress the bytes around a slot once; ``gzip_join`` fills the slot per request.

    The head ends with a full flush (byte-aligned, and the tail never refers back to
    it), so any bytes can follow it as a stored deflate block, and the tail, deflated
    on its own, ends the stream. Returns (gzip header + head, tail, CRC-32 of head).
    """
    first = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head_z = GZIP_HEADER + first.compress(head) + first.flush(zlib.Z_FULL_FLUSH)
    last = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    tail_z = last.compress(tail) + last.flush()
    return head_z, tail_z, zlib.crc32(head)


def gzip_join(head_z: bytes, slot: bytes, tail_z: bytes, head_crc: int, head_len: int,
              tail: bytes) -> bytes:
    """The gzip stream of head + slot + tail, from ``gzip_parts`` (slot < 64 KiB)."""
    n = len(slot)
    stored = struct.pack("<BHH", 0, n, n ^ 0xFFFF)  # BFINAL=0, BTYPE=00 (stored), LEN, NLEN
    crc = zlib.crc32(tail, zlib.crc32(slot, head_crc))
    size = (head_len + n + len(tail)) & 0xFFFFFFFF
    return b"".join((head_z, stored, slot, tail_z, struct.pack("<II", crc, size)))


class GzipMiddleware:
    """Compresses the app's public text responses for clients that accept gzip.

    Skipped: HEAD, bodies under MIN_BYTES, responses already encoded or not text.
    Compression lets a response's size hint at its content (BREACH): that needs a
    secret and text an attacker chooses in one response, at a URL the attacker can
    make a victim's browser load. The public pages hold no such secret (the form
    token is not one; an emailed link's token is in the URL an attacker would need),
    so they are compressed; the admin app, which has CSRF tokens and echoes its
    search, is dispatched around this middleware and never is.
    """

    def __init__(self, app: Callable) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "HEAD" \
                or not accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING")):
            return self.app(environ, start_response)
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) \
                -> Callable[[bytes], None]:
            captured[:] = [status, headers, exc_info]
            return lambda _data: None  # write() is not used by Flask

        result = self.app(environ, capture)
        status, headers, exc_info = captured
        if not _compressible(headers):
            start_response(status, headers, exc_info)
            return result
        body = b"".join(result)
        if len(body) >= MIN_BYTES:
            body = gzip_bytes(body)
            headers = [(k, v) for k, v in headers if k.lower() not in ("content-length", "vary")]
            headers += [("Content-Encoding", "gzip"), ("Content-Length", str(len(body))),
                        _vary(captured[1])]
        start_response(status, headers, exc_info)
        # The app's own close() still runs when the server is done sending: work queued
        # for after the response (mail.outbox) must not delay it.
        return _Body(body, result)


class _Body:
    def __init__(self, body: bytes, result: Iterable[bytes]) -> None:
        self.body, self.result = body, result

    def __iter__(self) -> Iterator[bytes]:
        yield self.body

    def close(self) -> None:
        if hasattr(self.result, "close"):
            self.result.close()


def _compressible(headers: list[tuple[str, str]]) -> bool:
    lowered = {k.lower(): v for k, v in headers}
    if "content-encoding" in lowered:
        return False
    length = lowered.get("content-length", "")
    if length.isdigit() and int(length) < MIN_BYTES:
        return False
    return lowered.get("content-type", "").lower().startswith(TEXT_TYPES)


def _vary(headers: list[tuple[str, str]]) -> tuple[str, str]:
    """Vary: Accept-Encoding, keeping whatever else the response already varied on."""
    present = [v for k, v in headers if k.lower() == "vary"]
    names = [n.strip() for v in present for n in v.split(",") if n.strip()]
    if not any(n.lower() == "accept-encoding" for n in names):
        names.append("Accept-Encoding")
    return ("Vary", ", ".join(names))


def static_twins(directory: Path) -> dict[Path, bytes]:
    """Each text file of ``directory`` that gzip shrinks, and its ``.gz`` twin's bytes."""
    twins = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.suffix in STATIC_SUFFIXES:
            data = path.read_bytes()
            packed = gzip_bytes(data, 9)
            if len(data) >= MIN_BYTES and len(packed) < len(data):
                twins[path.with_name(path.name + ".gz")] = packed
    return twins


def write_static_twins(directory: Path = STATIC_DIR) -> None:
    """(Re)write the .gz twins of the static files, and drop those of removed files."""
    twins = static_twins(directory)
    for stale in directory.rglob("*.gz"):
        if stale not in twins:
            stale.unlink()
    for path, data in twins.items():
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
            print(f"wrote {path}")
