"""The landing page as cached bytes, and the WSGI fast path that serves them.

``GET /`` is the hot path. The page of a Site is rendered once through
Flask/Jinja and kept as two byte strings around the form token; each hit
only signs a fresh token (a few microseconds) and joins three strings.
The cache is keyed by the frozen Site and the page's language, so any change of
its settings (sites file reload or nginx params) is simply a different key. A site
with several languages picks one per request (``?lang=``, else Accept-Language:
``web.i18n.choose``, cached per header) and says ``Vary: Accept-Language``.

Within one token slot (0.1 s) the same request values get the same bytes, so the fast
path also keeps its answers: a repeat is matched on the values it reads, not resolved.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from landingpad.signup.tokens import FormTokens
from landingpad.sites import REQUEST_KEYS, Site, SiteRegistry
from landingpad.sites.host import InvalidHost
from landingpad.web.compress import VARY, accepts_gzip, gzip_join, gzip_parts
from landingpad.web.headers import HSTS, security_headers
from landingpad.web.i18n import LANGUAGE_KEYS, choose
from landingpad.web.style import style_hash

TOKEN_SLOT = f"__landingpad_token_{secrets.token_hex(8)}__"


@dataclass(frozen=True)
class Page:
    head: bytes
    tail: bytes
    etag: str
    headers: tuple[tuple[str, str], ...]  # without Content-Length and HSTS
    token_length: int
    hsts: bool = False  # the site opted in (LANDING_HSTS): HSTS on its HTTPS responses

    def __post_init__(self) -> None:
        # Every token has the same length, so the 200 headers are built once.
        length = ("Content-Length", str(len(self.head) + self.token_length + len(self.tail)))
        object.__setattr__(self, "_plain", [*self.headers, length])
        object.__setattr__(self, "_tls", [*self.headers, HSTS, length])
        # The gzip form, compressed once: a request only adds its token as a stored
        # block and the checksum (compress.gzip_join), no zlib run per hit.
        head_z, tail_z, head_crc = gzip_parts(self.head, self.tail)
        object.__setattr__(self, "_gz", (head_z, tail_z, head_crc))
        gz_length = ("Content-Length", str(_gzip_size(head_z, tail_z, self.token_length)))
        encoded = (*self.headers, ("Content-Encoding", "gzip"))
        object.__setattr__(self, "_gz_plain", [*encoded, gz_length])
        object.__setattr__(self, "_gz_tls", [*encoded, HSTS, gz_length])

    # Every environ key respond() reads.
    KEYS = ("REQUEST_METHOD", "wsgi.url_scheme", "HTTP_IF_NONE_MATCH", "HTTP_ACCEPT_ENCODING")

    def respond(self, environ: dict[str, Any],
                token: str) -> tuple[str, list[tuple[str, str]], bytes]:
        """Status, headers and body for a GET or HEAD of this page."""
        secure = self.hsts and environ.get("wsgi.url_scheme") == "https"  # HSTS or not
        if "HTTP_IF_NONE_MATCH" in environ and _etag_matches(environ["HTTP_IF_NONE_MATCH"],
                                                              self.etag):
            headers = [h for h in self.headers if h[0] != "Content-Type"]
            return "304 Not Modified", [*headers, HSTS] if secure else headers, b""
        gzip = accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING"))
        if len(token) == self.token_length:
            if gzip:
                headers = self._gz_tls if secure else self._gz_plain
            else:
                headers = self._tls if secure else self._plain
        else:  # a token of another length (never in practice): count the body
            size = _gzip_size(*self._gz[:2], len(token)) if gzip \
                else len(self.head) + len(token) + len(self.tail)
            headers = [*self.headers, *([("Content-Encoding", "gzip")] if gzip else []),
                       *([HSTS] if secure else []), ("Content-Length", str(size))]
        if environ.get("REQUEST_METHOD") == "HEAD":
            return "200 OK", headers, b""
        if gzip:
            head_z, tail_z, head_crc = self._gz
            return "200 OK", headers, gzip_join(head_z, token.encode("ascii"), tail_z,
                                                head_crc, len(self.head), self.tail)
        return "200 OK", headers, b"".join((self.head, token.encode("ascii"), self.tail))


def _gzip_size(head_z: bytes, tail_z: bytes, token_length: int) -> int:
    return len(head_z) + 5 + token_length + len(tail_z) + 8  # stored block header, trailer


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    # Weak comparison (RFC 9110): only the token differs between two bodies.
    return any(tag.strip().removeprefix("W/") == etag.removeprefix("W/")
               for tag in header.split(","))


VARY_LANGUAGE = ("Vary", "Accept-Encoding, Accept-Language")


def build_page(site: Site, html: str, token_length: int, lang: str | None = None) -> Page:
    """Split a page rendered with TOKEN_SLOT into the bytes around the token."""
    head, sep, tail = html.partition(TOKEN_SLOT)
    if not sep:
        raise ValueError("rendered landing page has no token slot")
    head_b, tail_b = head.encode(), tail.encode()
    etag = 'W/"' + hashlib.blake2b(head_b + tail_b, digest_size=12).hexdigest() + '"'
    headers = (
        ("Content-Type", "text/html; charset=utf-8"),
        # Revalidate every time: cheap (304) and keeps the form token fresh.
        ("Cache-Control", "no-cache"),
        ("ETag", etag),
        # gzip or not, by Accept-Encoding (nginx's micro-cache keys on it too); and the
        # language, by Accept-Language, on a site that offers several.
        VARY_LANGUAGE if site.multilingual else VARY,
        ("Content-Language", lang or site.default_lang),
        *security_headers(False, style_hash(site)),
    )
    return Page(head_b, tail_b, etag, headers, token_length, hsts=site.hsts)


class PageCache:
    """Rendered pages by Site and language, bounded (oldest dropped first)."""

    def __init__(self, size: int, token_length: int) -> None:
        self.size = size
        self.token_length = token_length
        self._pages: dict[tuple[Site, str], Page] = {}
        self._lock = threading.Lock()

    def get(self, site: Site, lang: str) -> Page | None:
        return self._pages.get((site, lang))

    def get_or_build(self, site: Site, lang: str, render: Callable[[Site], str]) -> Page:
        """The page of ``site`` in ``lang``; ``render`` runs in a request of that language."""
        key = (site, lang)
        page = self._pages.get(key)
        if page is None:
            page = build_page(site, render(site), self.token_length, lang)
            if self.size == 0:
                return page  # cache off: every request renders
            with self._lock:  # a worker's threads may fill it at once
                if len(self._pages) >= self.size:
                    self._pages.pop(next(iter(self._pages)))
                self._pages[key] = page
        return page


# What a fast-path answer depends on, besides the configuration and the token slot.
ANSWER_KEYS = (*REQUEST_KEYS, *LANGUAGE_KEYS, *Page.KEYS)
_ALL_ANSWER_KEYS = frozenset(ANSWER_KEYS)
ANSWERS_PER_SLOT = 128  # a slot's answers kept, at most (a body each)
ANSWERS_PER_HOST = 8  # of one Host: its encodings, languages, HEAD... (each hit tries them)


class LandingFastPath:
    """WSGI middleware: answers ``GET /`` from the page cache without entering Flask.

    Anything it can't answer from the cache (a miss, a bad or unknown host,
    any other route, the admin host) goes to the Flask app, which renders,
    fills the cache and handles errors.
    """

    def __init__(self, app: Callable, registry: SiteRegistry, pages: PageCache,
                 tokens: FormTokens, admin_host: str = "") -> None:
        self.app = app
        self.registry = registry
        self.pages = pages
        self.tokens = tokens
        self.admin_host = admin_host
        # This slot's answers by Host: (its request's ANSWER_KEYS values, the keys it
        # didn't have, the slot's start and end, the configuration, status, headers,
        # body). A new slot starts a new dict; each answer also carries its own slot,
        # for a thread that read the dict before the switch (or a clock set back).
        self._slot_end = 0.0
        self._answers: dict[str | None, list[tuple]] = {}
        self._kept = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            now = time.time()
            for answer in self._answers.get(environ.get("HTTP_HOST"), ()):
                # The same value for each key its request had, and none of the others
                # (two set operations in C: cheaper than building and hashing a key).
                # The configuration is compared, not re-checked: a miss (at least once
                # a slot) re-reads a changed sites file.
                if answer[0] <= environ.items() and environ.keys().isdisjoint(answer[1]) \
                        and answer[2] <= now < answer[3] and answer[4] is self.registry.config:
                    start_response(answer[5], answer[6])
                    return [answer[7]]
            config = self.registry.current()
            try:
                site = self.registry.resolve(environ)
            except InvalidHost:
                site = None
            page = self.pages.get(site, choose(site, environ)) if site is not None else None
            if page is not None and site.domain != self.admin_host:
                status, headers, body = page.respond(environ, self.tokens.issue(site.domain, now))
                start = self.tokens.slot(now) / 1000
                self._keep(environ, (start, start + self.tokens.SLOT_MS / 1000),
                           (config, status, headers, body))
                start_response(status, headers)
                return [body]
        return self.app(environ, start_response)

    def _keep(self, environ: dict[str, Any], slot: tuple[float, float],
              response: tuple) -> None:
        if slot[1] != self._slot_end:
            # A thread late from an earlier slot keeps nothing (the newer slot's answers
            # stay); only a clock set back, to before the kept slot, starts over.
            if slot[1] < self._slot_end <= time.time() + (slot[1] - slot[0]):
                return
            self._answers, self._kept, self._slot_end = {}, 0, slot[1]
        host = environ.get("HTTP_HOST")
        answers = self._answers.get(host, ())
        if len(answers) < ANSWERS_PER_HOST and self._kept < ANSWERS_PER_SLOT:
            values = {key: environ[key] for key in ANSWER_KEYS if environ.get(key) is not None}
            answer = (values.items(), _ALL_ANSWER_KEYS - values.keys(), *slot, *response)
            self._answers.setdefault(host, []).append(answer)
            self._kept += 1
