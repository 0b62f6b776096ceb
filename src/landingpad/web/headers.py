"""Response headers and cookie policy: one place for both public and admin responses."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from flask import Flask, Response, g, request
from flask.sessions import SecureCookieSessionInterface

from landingpad.sites import get_registry
from landingpad.sites.host import InvalidHost, request_host_name
from landingpad.sites.registry import request_host
from landingpad.sites.site import Site
from landingpad.web import ADMIN_ENTRANCE, ENTRANCE  # defined there: deploy needs no Flask
from landingpad.web.style import style_hash

# Strict by default; a page with an inline <style> adds that style's hash.
# connect-src 'self': no page runs script, so nothing can connect anyway, but Chromium
# (since mid-2025) holds DevTools' own fetches to the page's CSP, and Lighthouse reads
# /robots.txt that way (GoogleChrome/lighthouse#16597): with 'none' it finds none.
_CSP = ("default-src 'none'; style-src 'self'{styles}; img-src 'self'; connect-src 'self'; "
        "form-action 'self'{forms}; frame-ancestors 'none'; base-uri 'none'{scripts}")

BASE_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def csp(style_hash: str | None = None, form_origin: str = "", script: bool = False) -> str:
    """The policy; an admin page may also post a form to ``form_origin`` (the S3
    bucket, for browser-direct uploads) and run the app's own script files."""
    return _CSP.format(styles=f" '{style_hash}'" if style_hash else "",
                       forms=f" {form_origin}" if form_origin else "",
                       scripts="; script-src 'self'" if script else "")


@lru_cache(maxsize=8192)
def security_headers(hsts: bool, style_hash: str | None = None) -> tuple[tuple[str, str], ...]:
    """Every header a response of the app carries; HSTS when ``hsts`` (see wants_hsts)."""
    headers = (*BASE_HEADERS, ("Content-Security-Policy", csp(style_hash)))
    return (*headers, HSTS) if hsts else headers


def wants_hsts(environ: Mapping[str, Any], secure: bool, site: Site | None) -> bool:
    """HSTS only over TLS: always through the admin door (the owner's own listener), and on
    a public site only when it opted in (LANDING_HSTS). A parked domain may be sold: HSTS
    would make browsers refuse the buyer's plain HTTP for a year."""
    if not secure:
        return False
    if through_admin_door(environ):
        return True
    if site is None:  # a response that never looked its site up (a 404, a static file)

        try:
            site = get_registry().resolve(environ)
        except InvalidHost:
            return False
    return bool(site and site.hsts)


def through_admin_door(environ: Mapping[str, Any]) -> bool:
    """Whether the request came in through the admin listener."""
    return environ.get(ENTRANCE) == ADMIN_ENTRANCE


def is_admin_request(environ: Mapping[str, Any], admin_host: str) -> bool:
    """Through the admin door and for the admin host (any spelling that normalises to it,
    ASCII only): the only requests the admin area answers."""
    if not admin_host or not through_admin_door(environ):
        return False
    try:
        return request_host_name(request_host(environ)) == admin_host
    except InvalidHost:
        return False


class NoPublicCookieSessions(SecureCookieSessionInterface):
    """Sessions only ever set a cookie through the admin door: public pages stay cookie-free."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure  # Secure whenever the admin is served over TLS

    def should_set_cookie(self, app: Flask, session) -> bool:  # noqa: ANN001
        if not is_admin_request(request.environ, app.config.get("ADMIN_HOST") or ""):
            return False
        return super().should_set_cookie(app, session)


def init_app(app: Flask) -> None:
    app.session_interface = NoPublicCookieSessions()
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict")

    @app.after_request
    def _headers(response: Response) -> Response:
        site = g.get("site")
        hsts = wants_hsts(request.environ, request.is_secure, site)
        for name, value in security_headers(hsts, style_hash(site) if site else None):
            response.headers.setdefault(name, value)
        return response
