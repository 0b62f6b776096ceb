"""The launch announcement: compose once, send at most once, resume after any crash."""

from __future__ import annotations

from flask import Blueprint, Flask

from landingpad.public import exports

# No routes: the announcement's mail templates (templates/announce/), for the public
# app (the CLI sends through it) and the admin's previews.
bp = Blueprint("announce", __name__, template_folder="templates")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


# What other features may use (landingpad.public): inner module -> names.
__getattr__, __all__ = exports(__name__, {
    "compose": "render_email send_test_copy",
    "send": "send_announcement",
    "states": "counts announcement_state AnnouncementState Outcome",
})
