"""The owner's admin area: a Flask app of its own, reached only on LANDINGPAD_ADMIN_HOST.

It shares configuration, the database and the site registry with the public
app, but not its routes: a public host can't reach an admin URL, and the
admin host serves no public page, whatever the paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flask import Flask
from flask_wtf import CSRFProtect

from landingpad.sites.host import InvalidHost, normalize_host


def create_admin_app(public: Flask) -> Flask:
    from landingpad import configure_errors, configure_templates, security
    from landingpad.admin.announcements import bp as announcements_bp
    from landingpad.admin.logos import bp as logos_bp
    from landingpad.admin.views import bp
    from landingpad.assets import bp as assets_bp
    from landingpad.storage import close_session

    app = Flask("landingpad", root_path=str(Path(__file__).resolve().parent.parent))
    app.config.update(public.config)
    app.extensions.update(public.extensions)  # the same engine, registry and tokens
    app.teardown_appcontext(close_session)
    configure_templates(app)
    security.init_app(app)
    CSRFProtect(app)
    app.register_blueprint(bp)
    app.register_blueprint(announcements_bp)
    app.register_blueprint(logos_bp)
    app.register_blueprint(assets_bp)  # logo previews (nginx serves them on public sites)
    configure_errors(app)
    return app


class HostDispatch:
    """WSGI: requests for the admin host go to the admin app, all others to the public one."""

    def __init__(self, public: Callable, admin: Callable, admin_host: str) -> None:
        self.public, self.admin, self.admin_host = public, admin, admin_host

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        try:
            host = normalize_host(environ.get("HTTP_HOST") or environ.get("SERVER_NAME") or "")
        except InvalidHost:
            host = ""
        app = self.admin if host == self.admin_host else self.public
        return app(environ, start_response)
