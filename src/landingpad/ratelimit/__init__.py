"""The app's own rate limits (Flask-Limiter), behind nginx's ``limit_req``.

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
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import parse
from werkzeug.exceptions import HTTPException, TooManyRequests

from landingpad import logs
from landingpad.ratelimit import sqlite_storage  # noqa: F401 - registers landingpad+sqlite://
from landingpad.sites import current_site

log = logging.getLogger(__name__)
STORAGE_FILE = "ratelimits.sqlite"
EXTENSION = "landingpad.limiter"

# The route limits, POSTs only, per client per site: endpoint -> (setting, message).
ROUTE_LIMITS = {
    "signup.signup": (
        "SIGNUP_RATE", "Too many sign-ups from your network in a short time. "
        "Please wait a minute and try again."),
    "access.request_link": (
        "PRIVACY_RATE", "Too many requests from your network in a short time. "
        "Please try again later."),
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


def _digest(value: str) -> str:
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()[:32]


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


def init_app(app: Flask) -> Limiter:
    uri = storage_uri(app.config)
    # The route limits are the limiter's default limits, resolved per request: one
    # pass of its bookkeeping per request (a decorator would add a second one).
    limiter = Limiter(
        key_func=client_key, app=app, storage_uri=uri, storage_options=_storage_options(uri),
        strategy="fixed-window", key_prefix="landingpad", headers_enabled=False,
        swallow_errors=True, in_memory_fallback_enabled=True, default_limits=[_route_rate])
    # Every limit here is on a POST: other requests (GET / is the hot path) skip the
    # limiter's per-request bookkeeping.
    limiter.request_filter(lambda: request.method != "POST")
    app.extensions[EXTENSION] = limiter
    app.register_error_handler(RateLimitExceeded, _too_many)
    return limiter


def _route_rate() -> str:
    """This request's route limit ("" for a route without one)."""
    found = ROUTE_LIMITS.get(request.endpoint or "")
    return current_app.config[found[0]] if found else ""


def _too_many(exc: RateLimitExceeded) -> Response:
    current = current_app.extensions[EXTENSION].current_limit
    wait = max(1, int(current.reset_at - time.time())) if current else 60
    found = ROUTE_LIMITS.get(request.endpoint or "")
    message = found[1] if found else "Too many requests. Please try again later."
    return current_app.handle_http_exception(TooManyRequests(message, retry_after=wait))


def _strategy():
    return current_app.extensions[EXTENSION].limiter


def hit(rate: str, key: str) -> bool:
    """Count one event for ``key``; False when that goes over ``rate`` (fails open)."""
    try:
        return _strategy().hit(parse(rate), key)
    except Exception:
        log.warning("rate-limit store unreachable: %s not counted", key.split(":")[0])
        return True


def wait_for(rate: str, key: str) -> int:
    """Seconds until ``key`` may count again under ``rate`` (0: now)."""
    try:
        stats = _strategy().get_window_stats(parse(rate), key)
    except Exception:
        log.warning("rate-limit store unreachable: %s not checked", key.split(":")[0])
        return 0
    return 0 if stats.remaining > 0 else max(1, int(stats.reset_time - time.time()) + 1)


def clear(rate: str, key: str) -> None:
    try:
        _strategy().clear(parse(rate), key)
    except Exception:
        log.warning("rate-limit store unreachable: %s not cleared", key.split(":")[0])
