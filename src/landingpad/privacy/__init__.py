"""Privacy: the per-site privacy notice (access, erasure and unsubscribe come later)."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template

from landingpad.sites import current_site, require_public_site

bp = Blueprint("privacy", __name__, template_folder="templates")
bp.before_request(require_public_site)


@bp.get("/privacy")
def notice() -> str:
    return render_template("privacy/notice.html", site=current_site())


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
