"""The launch announcement: compose once, send at most once, resume after any crash."""

from __future__ import annotations

from flask import Blueprint, Flask

from landingpad.public import exports

# No routes: the announcement's mail templates (templates/announce/), for the public
# app (the CLI sends through it) and the admin's previews.
bp = Blueprint("announce", __name__, template_folder="templates")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


# The public names (landingpad.public): what other features may use.
PUBLIC = {
    "render_email": "compose",
    "send_test_copy": "compose",
    "send_announcement": "send",
    "counts": "states",
    "announcement_state": "states",
    "AnnouncementState": "states",
    "Outcome": "states",
}
__getattr__ = exports(__name__, PUBLIC)
__all__ = list(PUBLIC)
