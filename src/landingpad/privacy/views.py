"""The privacy notice and the one-click unsubscribe page."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request

from landingpad.sites import current_site, require_public_site
from landingpad.storage import get_session
from landingpad.storage.events import record_event, signup_payload
from landingpad.storage.models import EventKind, Signup
from landingpad.storage.suppression import suppress
from landingpad.storage.types import utcnow
from landingpad.web.links import signup_for_token

bp = Blueprint("privacy", __name__, template_folder="templates")
bp.before_request(require_public_site)


@bp.get("/privacy")
def notice() -> str:
    return render_template("privacy/notice.html", site=current_site())


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> tuple[str, int]:
    """GET shows a button (mail scanners follow links); POST unsubscribes, once or again.

    The POST needs no cookie and no CSRF token: RFC 8058 one-click requests come
    from mail providers, and the signed token is the authority.
    """
    site = current_site()
    db = get_session()
    signup = signup_for_token(db, "unsubscribe", token, site.domain)
    if not isinstance(signup, Signup):  # unsubscribe links never expire
        abort(404)
    if request.method == "POST":
        if signup.unsubscribed_at is None:
            signup.unsubscribed_at = utcnow()
            suppress(db, current_app.config["SECRET_KEY"], signup.email, "unsubscribed")
            record_event(db, EventKind.UNSUBSCRIBED, signup.site, signup_payload(signup),
                         signup_id=signup.id)
            db.commit()
        return render_template("privacy/unsubscribed.html", site=site), 200
    return render_template("privacy/unsubscribe.html", site=site, signup=signup), 200
