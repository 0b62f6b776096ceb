"""The app factory: the core's parts, then each feature's ``init_app``, in order."""

from __future__ import annotations

import hashlib
import importlib
import logging
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import (
    Flask,
    Response,
    current_app,
    g,
    has_request_context,
    render_template,
    request,
)
from markupsafe import Markup
from werkzeug.exceptions import HTTPException, InternalServerError

from landingpad import mail, settings, sites, storage
from landingpad.sites.host import InvalidHost, normalize_host
from landingpad.web import compress, headers, i18n
from landingpad.web.i18n import N_, gettext
from landingpad.web.style import site_style

# The features, by name, in the order they hook into the app (as Django's
# INSTALLED_APPS): the core never imports a feature. Each module has
# ``init_app(app)``. The routes come before the rate limiter that checks them;
# the admin last, as its door is the outermost WSGI layer.
FEATURES = (
    "landingpad.assets",
    "landingpad.signup",
    "landingpad.privacy",
    "landingpad.announce",   # its mail templates (the welcome mail uses them too)
    "landingpad.tls",        # /.well-known/acme-challenge/: any node answers the CA
    "landingpad.ratelimit",
    "landingpad.admin",      # only when LANDINGPAD_ADMIN_HOST is set
)
PACKAGE_DIR = Path(__file__).resolve().parent.parent  # templates/ and static/

log = logging.getLogger(__name__)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``config`` overrides settings (tests); otherwise the environment rules."""
    app = Flask("landingpad", root_path=str(PACKAGE_DIR))
    configure_settings(app, config)
    configure_templates(app)
    i18n.init_app(app)  # the catalogues, the request's language, the jinja ``_``
    storage.init_app(app)
    sites.init_app(app)
    mail.init_app(app)  # the one outbox every mail goes through
    headers.init_app(app)
    # Public responses only: the admin app, dispatched to by its feature, is never
    # compressed (its pages hold CSRF tokens and echo input: BREACH).
    app.wsgi_app = compress.GzipMiddleware(app.wsgi_app)
    configure_errors(app, find_site=True)
    for name in FEATURES:
        importlib.import_module(name).init_app(app)
    return app


def configure_settings(app: Flask, config: Mapping[str, Any] | None) -> None:
    values = settings.load(config)
    app.config.update(values)
    app.config["ADMIN_HOST"] = _admin_host(values["ADMIN_HOST"])
    app.config["SECRET_KEY"] = values["SECRET_KEY"] or settings.secret_key(values["DATA_DIR"])
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024  # larger bodies: admin uploads only


def _admin_host(raw: str) -> str:
    if not raw:
        return ""
    try:
        return normalize_host(raw)
    except InvalidHost as exc:
        raise settings.SettingsError(f"LANDINGPAD_ADMIN_HOST={raw!r}: {exc}") from None


def configure_templates(app: Flask) -> None:
    static = Path(app.static_folder or "")

    @lru_cache(maxsize=64)
    def asset_url(filename: str) -> str:
        # A content hash in the URL lets browsers and nginx cache static files forever.
        digest = hashlib.sha256((static / filename).read_bytes()).hexdigest()[:10]
        # Not url_for: error pages for a garbage Host have no URL adapter.
        return f"{app.static_url_path}/{filename}?v={digest}"

    app.jinja_env.globals.update(asset_url=asset_url, site_style=site_style, strong=strong,
                                 Markup=Markup)
    app.jinja_env.filters["when"] = when
    i18n.configure_jinja(app)
    app.context_processor(lambda: {"site": g.get("site")})


def strong(text: str) -> Markup:
    return Markup("<strong>{}</strong>").format(text)


def when(iso: str | None) -> Markup | str:
    """An ISO timestamp as a person reads it in the page's language, machine-readable in
    <time>."""
    if not iso:
        return ""
    moment = datetime.fromisoformat(iso)
    return Markup('<time datetime="{}">{}</time>').format(iso, i18n.when(moment))


# Error pages in the visitor's language: a title per status, and a sentence for the ones
# Werkzeug words itself (a view's own description is translated where it is raised).
ERROR_TITLES = {
    400: N_("Bad request"), 403: N_("Forbidden"), 404: N_("Not found"),
    405: N_("Method not allowed"), 410: N_("Gone"), 413: N_("Too large"),
    415: N_("Unsupported form"), 429: N_("Too many requests"),
    500: N_("Something went wrong"), 503: N_("Unavailable"),
}
ERROR_TEXTS = {
    400: N_("The request could not be understood."),
    403: N_("You don't have permission to see this page."),
    404: N_("There is no page at this address."),
    405: N_("This page can't be used this way."),
    410: N_("This page is no longer here."),
    413: N_("What was sent is too large."),
    415: N_("The form was sent in a form this site doesn't accept."),
    429: N_("Too many requests from your connection. Please wait a minute and try again."),
    500: N_("Something went wrong on our side. Please try again later."),
    503: N_("This site is briefly unavailable. Please try again in a minute."),
}


def _error_words(exc: HTTPException) -> tuple[str, str]:
    code = exc.code or 500
    name = gettext(ERROR_TITLES[code]) if code in ERROR_TITLES else exc.name
    description = exc.description
    if description is None or description == type(exc).description:
        description = gettext(ERROR_TEXTS.get(code, ERROR_TEXTS[500]))
    return name, str(description)


def _error_site() -> None:
    """The site of a request that failed before its view (a 404 route, a 429 from the
    limiter): its language and links on the error page. Nothing for an unknown host."""
    if g.get("site") is not None or not has_request_context():
        return
    if current_app.config["ADMIN_HOST"]:
        try:
            if sites.request_host_name(request.host) == current_app.config["ADMIN_HOST"]:
                return
        except sites.InvalidHost:
            return
    try:
        g.site = sites.get_registry().resolve(request.environ)
    except sites.InvalidHost:
        return


def configure_errors(app: Flask, find_site: bool = False) -> None:
    """Error pages; ``find_site``: the public app's, in the language and with the links of
    the request's site (the admin app's stay plain English)."""

    def render_error(exc: HTTPException) -> Response:
        if find_site:
            _error_site()
        name, description = _error_words(exc)
        response = Response(
            render_template("error.html", code=exc.code, name=name,
                            description=description),
            status=exc.code, content_type="text/html; charset=utf-8",
        )
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value  # keep Allow on 405, etc.
        response.headers["Cache-Control"] = "no-store"
        return response

    def render_crash(exc: Exception) -> Response:
        log.exception("unhandled error")
        return render_error(InternalServerError())

    app.register_error_handler(HTTPException, render_error)
    app.register_error_handler(Exception, render_crash)
