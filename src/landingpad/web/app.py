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

from flask import Flask, Response, g, render_template
from markupsafe import Markup
from werkzeug.exceptions import HTTPException, InternalServerError

from landingpad import mail, settings, sites, storage
from landingpad.sites.host import InvalidHost, normalize_host
from landingpad.web import compress, headers
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
    storage.init_app(app)
    sites.init_app(app)
    mail.init_app(app)  # the one outbox every mail goes through
    headers.init_app(app)
    # Public responses only: the admin app, dispatched to by its feature, is never
    # compressed (its pages hold CSRF tokens and echo input: BREACH).
    app.wsgi_app = compress.GzipMiddleware(app.wsgi_app)
    configure_errors(app)
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

    app.jinja_env.globals.update(asset_url=asset_url, site_style=site_style)
    app.jinja_env.filters["when"] = when
    app.context_processor(lambda: {"site": g.get("site")})


def when(iso: str | None) -> Markup | str:
    """An ISO timestamp as a person reads it, machine-readable in <time>."""
    if not iso:
        return ""
    moment = datetime.fromisoformat(iso)
    return Markup('<time datetime="{}">{}</time>').format(
        iso, moment.strftime("%-d %B %Y, %H:%M UTC"))


def configure_errors(app: Flask) -> None:
    def render_error(exc: HTTPException) -> Response:
        response = Response(
            render_template("error.html", code=exc.code, name=exc.name,
                            description=exc.description),
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
