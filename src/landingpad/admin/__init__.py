"""The owner's admin area: a Flask app of its own, behind its own door.

It shares configuration, the database and the site registry with the public
app, but not its routes. It answers only requests that came in through the
admin listener (nginx's admin server block, ``landingpad serve --admin-port``),
which says so with a WSGI variable a client can't set, and only for
LANDINGPAD_ADMIN_HOST. A public listener never reaches it, whatever the Host;
the admin host serves no public page, whatever the paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, abort, current_app, request
from flask_wtf import CSRFProtect

from landingpad.sites import refuse_non_ascii_host
from landingpad.storage import close_session
from landingpad.web import headers
from landingpad.web.app import PACKAGE_DIR, configure_errors, configure_templates
from landingpad.web.headers import is_admin_request, through_admin_door


def init_app(public: Flask) -> None:
    """With LANDINGPAD_ADMIN_HOST set: the admin app, behind the outermost WSGI layer."""
    if not public.config["ADMIN_HOST"]:
        return
    admin = create_admin_app(public)
    public.extensions["landingpad.admin"] = admin
    # By the listener a request came in through, never by its Host.
    public.wsgi_app = EntranceDispatch(public.wsgi_app, admin.wsgi_app)


def create_admin_app(public: Flask) -> Flask:
    from landingpad.admin.announcements import bp as announcements_bp
    from landingpad.admin.certificates import bp as certificates_bp
    from landingpad.admin.deliverability import bp as deliverability_bp
    from landingpad.admin.logos import bp as logos_bp
    from landingpad.admin.views import bp
    from landingpad.announce import bp as announce_bp
    from landingpad.assets import bp as assets_bp

    app = Flask("landingpad", root_path=str(PACKAGE_DIR))
    app.config.update(public.config)
    app.extensions.update(public.extensions)  # the same engine, registry and tokens
    # First of all, before CSRF, sessions or the database: the door and the host.
    app.before_request(_only_the_admin_door)
    app.teardown_appcontext(close_session)
    configure_templates(app)
    headers.init_app(app)
    # Over HTTPS Flask-WTF would also want each POST's Referer to name this host and port
    # (WTF_CSRF_SSL_STRICT): a browser sends none from pages that say "no-referrer", and
    # nginx passes the Host without its port. The CSRF token and the SameSite=Strict
    # session cookie (sent on no cross-site request) carry the check, as over HTTP.
    app.config["WTF_CSRF_SSL_STRICT"] = False
    CSRFProtect(app)
    app.register_blueprint(bp)
    app.register_blueprint(announcements_bp)
    app.register_blueprint(logos_bp)
    app.register_blueprint(certificates_bp)
    app.register_blueprint(deliverability_bp)
    app.register_blueprint(announce_bp)  # the announcement's mail templates, for previews
    app.register_blueprint(assets_bp)  # logo previews (nginx serves them on public sites)
    configure_errors(app)
    return app


def _only_the_admin_door() -> None:
    """404 for anything but the admin host through the admin door; 400 for a non-ASCII Host.

    The dispatcher already sends only admin-door requests here: this holds even if
    the admin app is ever mounted some other way.
    """
    refuse_non_ascii_host()
    if not is_admin_request(request.environ, current_app.config["ADMIN_HOST"]):
        abort(404)


class EntranceDispatch:
    """WSGI: what came in through the admin door goes to the admin app, all else to the public.

    The door is the ``LANDINGPAD_ENTRANCE`` variable only the admin listener sets,
    never the Host header: a Host of the admin's name on a public listener gets the
    public app (which serves the admin host nothing).
    """

    def __init__(self, public: Callable, admin: Callable) -> None:
        self.public, self.admin = public, admin

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        app = self.admin if through_admin_door(environ) else self.public
        return app(environ, start_response)
