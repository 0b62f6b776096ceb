"""landingpad: one Flask app giving any number of domains a "coming soon" page."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, render_template
from markupsafe import Markup
from werkzeug.exceptions import HTTPException, InternalServerError

from landingpad import (
    assets,
    compress,
    privacy,
    ratelimit,
    security,
    settings,
    signup,
    sites,
    storage,
)
from landingpad.tls import challenges

log = logging.getLogger(__name__)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``config`` overrides settings (tests); otherwise the environment rules."""
    app = Flask(__name__)
    configure_settings(app, config)
    configure_templates(app)
    storage.init_app(app)
    assets.init_app(app)
    sites.init_app(app)
    security.init_app(app)
    # Public responses only: the admin app, dispatched to below, is never compressed
    # (its pages hold CSRF tokens and echo input: BREACH).
    app.wsgi_app = compress.GzipMiddleware(app.wsgi_app)
    signup.init_app(app)
    privacy.init_app(app)
    challenges.init_app(app)  # /.well-known/acme-challenge/: any node answers the CA
    ratelimit.init_app(app)  # after the routes it limits
    configure_errors(app)
    if app.config["ADMIN_HOST"]:
        from landingpad.admin import EntranceDispatch, create_admin_app

        admin = create_admin_app(app)
        app.extensions["landingpad.admin"] = admin
        # By the listener a request came in through, never by its Host: see landingpad.admin.
        app.wsgi_app = EntranceDispatch(app.wsgi_app, admin.wsgi_app)
    return app


def configure_settings(app: Flask, config: Mapping[str, Any] | None) -> None:
    values = settings.load(config)
    app.config.update(values)
    app.config["ADMIN_HOST"] = _admin_host(values["ADMIN_HOST"])
    app.config["SECRET_KEY"] = values["SECRET_KEY"] or settings.secret_key(values["DATA_DIR"])
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024  # larger bodies: admin uploads only


def _admin_host(raw: str) -> str:
    from landingpad.sites.host import InvalidHost, normalize_host

    if not raw:
        return ""
    try:
        return normalize_host(raw)
    except InvalidHost as exc:
        raise settings.SettingsError(f"LANDINGPAD_ADMIN_HOST={raw!r}: {exc}") from None


def configure_templates(app: Flask) -> None:
    from landingpad.signup.pages import site_style

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
    from datetime import datetime

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
