"""The app's own rate limits (the ``limits`` library), behind nginx's ``limit_req``.

- POST /signup: ``LANDINGPAD_SIGNUP_RATE`` per client per site;
- POST /privacy/request: ``LANDINGPAD_PRIVACY_RATE`` per client per site;
- mail per address (confirmations, access links) and failed log-ins per
  account and per client: counted with :func:`hit` from the views.

Counters live in Redis when ``REDIS_URL`` is set (shared by every node), else
in a SQLite file in the data dir (shared by every process of this machine).
If the store fails, the route limits fall back to per-process memory and the
counts in :func:`hit` let the request through: the choice is to fail open,
with a warning in the log, because nginx's limit_req still stands in front
and a dead Redis must not stop sign-ups. A client is its address as nginx
saw it (:func:`client_address`), and an IPv6 client is its /64 (:func:`client_network`),
as in nginx's limit_req: used in memory for the count and never stored, counter
keys hold an HMAC of it.

The route limits are checked in one ``before_request`` hook calling ``limits``
directly (the counter keys are the ones Flask-Limiter used, so nodes of both
releases share a count during a rolling upgrade): Flask-Limiter's per-request
bookkeeping cost several times the counter write itself on the sign-up path.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import time
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from flask import Flask, current_app, request
from limits import RateLimitItem
from limits.limits import GRANULARITIES
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import HTTPException, TooManyRequests

from landingpad import logs
from landingpad.ratelimit import sqlite_storage  # noqa: F401 - registers landingpad+sqlite://
from landingpad.sites import current_site
from landingpad.values import parse_rates
from landingpad.web.i18n import lazy_gettext

log = logging.getLogger(__name__)
STORAGE_FILE = "ratelimits.sqlite"
EXTENSION = "landingpad.limiter"

# The route limits, POSTs only, per client per site: endpoint -> (setting, message).
ROUTE_LIMITS = {
    "signup.signup": (
        "SIGNUP_RATE", lazy_gettext("Too many sign-ups from your network in a short time. "
                                    "Please wait a minute and try again.")),
    "access.request_link": (
        "PRIVACY_RATE", lazy_gettext("Too many requests from your network in a short time. "
                                     "Please try again later.")),
}


def storage_uri(config: Mapping[str, Any]) -> str:
    return config["REDIS_URL"] or f"landingpad+sqlite:///{config['DATA_DIR'] / STORAGE_FILE}"


def _storage_options(uri: str) -> dict[str, Any]:
    if uri.startswith(("redis://", "rediss://", "unix://")):
        # A Redis that hangs must not hold a sign-up for long: give up fast, fall back.
        return {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
    return {}


def _trusted(peer: str,
             proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
    return any(address in network for network in proxies)


def client_address() -> str:
    """The visitor's address, as the server in front saw it.

    Our nginx config and `landingpad serve`'s uWSGI routes put the peer in
    LANDINGPAD_CLIENT (REMOTE_ADDR holds a placeholder there, so uWSGI's own log
    lines can't name anyone; a client can't set a variable without the HTTP_
    prefix). When it is set, that is the answer: a header can't change it. (With a
    proxy in front of our nginx, nginx's realip module makes $remote_addr the
    client.) Only under another server, without it, is X-Real-IP believed, and only
    from a peer in LANDINGPAD_TRUSTED_PROXIES.
    """
    environ = request.environ
    client = environ.get(logs.CLIENT_VAR)
    if client:
        return client
    peer = environ.get("REMOTE_ADDR") or ""
    real = environ.get("HTTP_X_REAL_IP", "").strip()
    if real and _trusted(peer, current_app.config["TRUSTED_PROXIES"]):
        try:
            return str(ipaddress.ip_address(real))
        except ValueError:
            return peer
    return peer


@lru_cache(maxsize=8)
def _keyed(secret: str) -> hmac.HMAC:
    # The key schedule once per secret: each digest copies it.
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def _digest(value: str) -> str:
    mac = _keyed(current_app.config["SECRET_KEY"]).copy()
    mac.update(value.encode())
    return mac.hexdigest()[:32]


def client_key(scope: str | None = None) -> str:
    """The site (or ``scope``, e.g. the admin area, which is no site) and an HMAC of the
    client's address: Redis never holds an address."""
    return f"{scope or _site_name()}:{_digest(client_network(client_address()))}"


def client_network(address: str) -> str:
    """Who counts as one client: an IPv4 address, or the /64 of an IPv6 one.

    One IPv6 host commonly holds a whole /64 and can pick a fresh address for each
    request; nginx's limit_req keys on the same /64 (landingpad.conf). An
    IPv4-mapped address (::ffff:a.b.c.d) is its IPv4 address.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _site_name() -> str:
    # The site, not the raw host: an alias shares its site's count. (This also sets
    # g.site for the 429 page.) A host that is no site is counted as it came, then 404s.
    try:
        return current_site().domain
    except HTTPException:
        return request.host.lower()


def address_key(kind: str, email: str) -> str:
    return f"{kind}:{_digest(email.lower())}"


class RouteLimiter:
    """The route limits and the shared counters, with an in-memory fallback.

    ``limiter`` is the strategy the counts go to: the shared store's, or this
    process's memory while the store is unreachable (then the store is tried
    again after 1, 2, 4... 32 seconds, and used again once it answers).
    """

    KEY_PREFIX = "landingpad"
    MAX_BACKOFF = 5  # 2**5 s between checks of a dead store, at most

    def __init__(self, uri: str, options: Mapping[str, Any]) -> None:
        self.storage: Storage = storage_from_string(uri, **options)
        self._shared = FixedWindowRateLimiter(self.storage)
        self._memory_limiter: FixedWindowRateLimiter | None = None
        self._dead = False
        self._checks = 0
        self._checked_at = 0.0

    @property
    def _memory(self) -> FixedWindowRateLimiter:
        # Made on first need, in the worker: limits' MemoryStorage starts a timer thread,
        # and a thread alive in uWSGI's master when it forks its workers can leave a
        # worker holding a lock nobody will release (a worker that never exits).
        if self._memory_limiter is None:
            self._memory_limiter = FixedWindowRateLimiter(MemoryStorage())
        return self._memory_limiter

    @property
    def limiter(self) -> FixedWindowRateLimiter:
        if self._dead and self._recovered():
            self._dead = False
        return self._memory if self._dead else self._shared

    def _recovered(self) -> bool:
        now = time.time()
        if now - self._checked_at <= 2 ** self._checks:
            return False
        self._checked_at, self._checks = now, min(self._checks + 1, self.MAX_BACKOFF)
        if self.storage.check():
            log.info("rate-limit store answers again")
            self._checks = 0
            return True
        return False

    def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        """Count one request; on a store failure, count it in memory from now on."""
        limiter = self.limiter
        try:
            return limiter.hit(item, *identifiers)
        except Exception:
            if limiter is self._memory:
                log.exception("rate limit not counted")
                return True
            log.warning("rate-limit store unreachable: falling back to in-memory storage "
                        "(per process) until it answers again")
            self._dead, self._checked_at, self._checks = True, time.time(), 0
            return self._memory.hit(item, *identifiers)

    def check_request(self) -> None:
        """``before_request``: 429 for a POST over its route's limit."""
        if request.method != "POST":  # GET / is the hot path: it pays nothing here
            return
        endpoint = request.endpoint
        found = ROUTE_LIMITS.get(endpoint or "")
        if found is None:
            return
        identifiers = (self.KEY_PREFIX, client_key(), endpoint)
        for item in _parsed(current_app.config[found[0]]):  # "6/minute;100/day": each
            if self.hit(item, *identifiers):
                continue
            try:
                reset = self.limiter.get_window_stats(item, *identifiers).reset_time
                wait = max(1, int(reset - time.time()))
            except Exception:
                wait = 60
            raise TooManyRequests(found[1], retry_after=wait)


@lru_cache(maxsize=64)
def _parsed(rate: str) -> tuple[RateLimitItem, ...]:
    # The setting was checked by values.rates; the same parser builds the items, one per
    # rate of a list such as "6/minute;100/day" (each one applies).
    return tuple(GRANULARITIES[unit](amount, multiples)
                 for amount, multiples, unit in parse_rates(rate))


def init_app(app: Flask) -> RouteLimiter:
    uri = storage_uri(app.config)
    limiter = RouteLimiter(uri, _storage_options(uri))
    app.extensions[EXTENSION] = limiter
    app.before_request(limiter.check_request)
    return limiter


def _strategy() -> FixedWindowRateLimiter:
    return current_app.extensions[EXTENSION].limiter


def hit(rate: str, key: str) -> bool:
    """Count one event for ``key``; False when that goes over ``rate`` (fails open)."""
    try:
        strategy = _strategy()
        return all(strategy.hit(item, key) for item in _parsed(rate))
    except Exception:
        log.warning("rate-limit store unreachable: %s not counted", key.split(":")[0])
        return True


def wait_for(rate: str, key: str) -> int:
    """Seconds until ``key`` may count again under ``rate`` (0: now)."""
    try:
        strategy = _strategy()
        every = [strategy.get_window_stats(item, key) for item in _parsed(rate)]
    except Exception:
        log.warning("rate-limit store unreachable: %s not checked", key.split(":")[0])
        return 0
    return max((max(1, int(stats.reset_time - time.time()) + 1)
                for stats in every if stats.remaining <= 0), default=0)


def clear(rate: str, key: str) -> None:
    try:
        strategy = _strategy()
        for item in _parsed(rate):
            strategy.clear(item, key)
    except Exception:
        log.warning("rate-limit store unreachable: %s not cleared", key.split(":")[0])


# Caps on mail per address and day ("list bombing"), counted in the same store.

ACCESS_MAILS_PER_DAY = 3  # "see or erase my data" links


def _per_day(per_day: int) -> str:
    return f"{per_day}/day"


def take_mail(kind: str, email: str, per_day: int) -> bool:
    """Count one mail of ``kind`` to ``email``; False past ``per_day``.

    Keyed by an HMAC of the address, so the store never holds the address.
    """
    return hit(_per_day(per_day), address_key(kind, email))


def forget_mail(email: str) -> None:
    """Drop the counts kept for an erased address."""
    caps = {"confirm": current_app.config["CONFIRMS_PER_DAY"], "access": ACCESS_MAILS_PER_DAY}
    for kind, per_day in caps.items():
        clear(_per_day(per_day), address_key(kind, email))
