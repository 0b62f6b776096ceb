"""Host -> Site, with the precedence environ > sites file > [defaults] > built-in.

The registry re-reads the sites file when it changes (checked at most every
``check_seconds``), so ``domain add`` needs no restart. A file that breaks
on reload is logged and the last good configuration stays in use.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from landingpad.sites import params
from landingpad.sites.host import check_request_host, normalize_host
from landingpad.sites.site import ENVIRON_KEYS, Site, build_site, parse_value
from landingpad.sites.sitesfile import SitesConfig, SitesFileError, load_sites

log = logging.getLogger(__name__)


def request_host(environ: Mapping[str, Any]) -> str:
    """The host a request is for, as the client named it (Host header, else SERVER_NAME)."""
    return environ.get("HTTP_HOST") or environ.get("SERVER_NAME") or ""


def raw_overrides(environ: Mapping[str, Any]) -> tuple[str | None, ...]:
    """The LANDING_* values nginx passed (uwsgi_param), as sent, ending with the encoding.

    Only exact LANDING_* keys count: a visitor's header ``Landing-Title``
    arrives as HTTP_LANDING_TITLE and is never read. Missing or empty means unset (the
    generated nginx config sends none for a value a domain doesn't set; decode_overrides
    reads "" as None: done on a cache miss, not per request).
    """
    raw = tuple(map(environ.get, _RAW_KEYS))
    # The usual case without nginx (the sites file alone): one shared tuple, not one
    # per cached host.
    return _NO_OVERRIDES if raw == _NO_OVERRIDES else raw


_RAW_KEYS = (*ENVIRON_KEYS, params.ENCODING_KEY)
_NO_OVERRIDES: tuple[None, ...] = (None,) * len(_RAW_KEYS)
# Every environ key resolve() reads: under one configuration, the same values give the
# same Site (what lets the landing page's fast path keep whole answers).
REQUEST_KEYS = ("HTTP_HOST", "SERVER_NAME", *_RAW_KEYS)


def decode_overrides(raw: tuple[str | None, ...]) -> tuple[str | None, ...]:
    """Plain values from raw_overrides ("" is unset; percent-decoded when nginx says
    they are encoded)."""
    *values, encoding = raw
    if encoding == params.ENCODING_URL:
        return tuple(_decode(v or None) for v in values)
    return tuple(v or None for v in values)


def _decode(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return params.decode(value)
    except UnicodeDecodeError:
        return "\x00"  # not UTF-8: fails validation below and is logged, like any bad value


class SiteRegistry:
    def __init__(self, path: Path, check_seconds: float = 1.0, cache_size: int = 4096) -> None:
        self.path = Path(path)
        self.check_seconds = check_seconds
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._next_check = 0.0
        self._cache_size = cache_size
        self.config: SitesConfig = SitesConfig()
        self.reload(strict=True)

    # -- the sites file ---------------------------------------------------
    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def reload(self, strict: bool = False) -> bool:
        """Re-read the sites file if it changed. Returns True when a new config took effect.

        ``strict`` raises SitesFileError (at start); otherwise an error is
        logged and the previous configuration is kept.
        """
        with self._lock:
            stamp = self._file_stamp()
            if stamp == self._stamp and not strict:
                return False
            try:
                config = load_sites(self.path)
            except SitesFileError as exc:
                if strict:
                    raise
                log.error("sites file not reloaded, keeping the previous one: %s", exc)
                self._stamp = stamp  # don't re-parse the same broken file every second
                return False
            # A cache of its own for each configuration (a build still running on the old
            # one fills the old cache), put in place before the configuration itself:
            # whoever sees the new configuration resolves with it.
            self._lookup = self._cached(config)
            self.config = config
            self._stamp = stamp
            return True

    def _cached(self, config: SitesConfig) -> Callable[[str, tuple[str | None, ...]], Site | None]:
        return lru_cache(maxsize=self._cache_size)(partial(self._build, config))

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self.check_seconds
            self.reload()

    def current(self) -> SitesConfig:
        """The configuration in use (the sites file re-read first if it changed): a new
        object whenever a reload took effect."""
        self._maybe_reload()
        return self.config

    # -- resolution ---------------------------------------------------------
    def resolve(self, environ: Mapping[str, Any]) -> Site | None:
        """The Site for a WSGI request, or None when nobody configured its host.

        Raises InvalidHost for a host that is not a host name.
        """
        self._maybe_reload()
        # A non-ASCII Host is refused before IDNA mapping could fold it into a site's name.
        host = check_request_host(request_host(environ))
        # Cached on the values as they arrive: a hit costs a few dict lookups.
        return self._lookup(host, raw_overrides(environ))

    def site_for_host(self, host: str) -> Site | None:
        """The Site the sites file gives a host (no nginx params): CLI and admin."""
        self._maybe_reload()
        return self._lookup(host, _NO_OVERRIDES)

    def _build(self, config: SitesConfig, raw_host: str,
               raw: tuple[str | None, ...]) -> Site | None:
        host = normalize_host(raw_host)  # InvalidHost is raised, and not cached
        overrides = decode_overrides(raw)
        domain = config.hosts.get(host)
        env_layer: dict[str, Any] = {}
        for key, raw in zip(ENVIRON_KEYS, overrides, strict=True):
            if raw is None:
                continue
            try:
                env_layer[key] = parse_value(key, raw)
            except ValueError as exc:
                # A bad nginx param falls back to the file/defaults; the owner sees why.
                log.warning("ignoring uwsgi_param %s for %s: %s", key, host, exc)
        if domain is None and "LANDING_DOMAIN" in env_layer:
            domain = config.hosts.get(env_layer["LANDING_DOMAIN"])  # an alias set up in nginx
        if domain is None and not env_layer:
            return None
        site_layer = config.sites.get(domain, {}) if domain else {}
        return build_site(domain or host, [env_layer, site_layer, config.defaults])

    def domains(self) -> list[str]:
        """Domains named in the sites file, sorted."""
        self._maybe_reload()
        return sorted(self.config.sites)
