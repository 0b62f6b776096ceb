"""The owner's admin area: log-in, dashboard, the sign-up list, delete, export."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from sqlalchemy import delete, select
from werkzeug.exceptions import TooManyRequests

from landingpad.admin import throttle
from landingpad.admin.accounts import authenticate, end_sessions
from landingpad.admin.chart import bar_chart
from landingpad.admin.forms import DeleteForm, LoginForm, LogoutForm
from landingpad.admin.queries import STATES, Filters, daily_counts, domain_stats, search
from landingpad.signup import iter_csv
from landingpad.sites import get_registry
from landingpad.storage import get_session, session_factory
from landingpad.storage.events import record_erasure
from landingpad.storage.models import Signup, User

bp = Blueprint("admin", __name__, template_folder="templates")


@bp.before_app_request
def _load_user() -> None:
    g.user = None
    uid = session.get("uid")
    if uid is not None:
        user = get_session().get(User, uid)
        if user is not None and session.get("sv") == user.session_version:
            g.user = user
        else:
            session.clear()  # deleted user or changed password: the session is over


@bp.after_app_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def login_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.user is None:
            return redirect(url_for("admin.login", next=request.full_path
                                    if request.method == "GET" else None))
        return view(*args, **kwargs)

    return wrapped


@bp.app_context_processor
def _forms() -> dict:
    user = g.get("user")
    # The log-out form's CSRF token is stored in the session: only make one for a
    # logged-in page, so a page without a login never sets a session cookie.
    return {"logout_form": LogoutForm() if user else None, "user": user}


# A path (and query) on this host: printable ASCII without spaces or backslashes, one
# leading slash. Browsers drop tabs and newlines from a Location and read "\\" as "/",
# so "/\tevil.example" or "/\\evil.example" would leave for another host.
_LOCAL_PATH = re.compile(r"/(?![/\\])[!-\[\]-~]*")


def _safe_next(target: str | None) -> str:
    """``target`` if it is a path on the admin host, else the dashboard: never an open redirect.

    Checked once more after percent-decoding, so nothing decoded later (a proxy, a
    browser) can turn it into "//host" or a control character either.
    """
    if target and len(target) <= 2048 and _LOCAL_PATH.fullmatch(target):
        decoded = unquote(target)
        if decoded.isascii() and _LOCAL_PATH.fullmatch(decoded.replace(" ", "+")):
            return target
    return url_for("admin.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        db = get_session()
        pairs = throttle.keys(form.email.data)
        wait = throttle.blocked_for(pairs)
        if wait:
            raise TooManyRequests(f"Too many failed log-ins. Try again in {wait // 60 + 1} "
                                  "minutes.", retry_after=wait)
        user = authenticate(db, form.email.data, form.password.data)
        if user is None:
            throttle.record_failure(pairs)
            # The same message and status whether the address is unknown or the password wrong.
            flash("Wrong email or password.", "error")
            return render_template("admin/login.html", form=form), 401
        throttle.clear(pairs)
        session.clear()  # a fresh session on log-in
        session["uid"], session["sv"] = user.id, user.session_version
        return redirect(_safe_next(request.args.get("next")))
    status = 400 if form.is_submitted() else 200
    return render_template("admin/login.html", form=form), status


@bp.post("/logout")
def logout() -> Response:
    if LogoutForm().validate_on_submit():
        if g.user is not None:
            # The session lives in a signed cookie: a copy made before now would still
            # verify. A new session version refuses every cookie issued until now.
            end_sessions(get_session(), g.user)
        session.clear()
        flash("You are logged out.", "info")
    return redirect(url_for("admin.login"))


@bp.get("/")
@login_required
def dashboard() -> str:
    db = get_session()
    registry = get_registry()
    site = request.args.get("site", "").strip().lower()
    stats = domain_stats(db, registry.domains())
    if site and site not in {s.site for s in stats}:
        abort(404)
    series = daily_counts(db, 30, site or None)
    chart = bar_chart(series, f"Sign-ups per day, last 30 days: {site or 'all domains'}")
    totals = {key: sum(getattr(s, key) for s in stats)
              for key in ("total", "confirmed", "unsubscribed", "last_7_days")}
    return render_template("admin/dashboard.html", stats=stats, totals=totals, chart=chart,
                           series=series, site=site)


@bp.get("/signups")
@login_required
def signups() -> str:
    filters = Filters.from_args(request.args)
    for message in filters.errors:
        flash(message, "error")
    rows, total = search(get_session(), filters)
    pages = max(1, -(-total // 50))
    return render_template("admin/signups.html", rows=rows, total=total, filters=filters,
                           pages=pages, states=STATES, form=DeleteForm(),
                           domains=get_registry().domains())


@bp.post("/signups/delete")
@login_required
def delete_signups() -> Any:
    form = DeleteForm()
    if not form.validate_on_submit() or not form.ids.data:
        flash("Choose at least one sign-up to delete.", "error")
        return redirect(url_for("admin.signups"))
    db = get_session()
    ids = sorted(set(form.ids.data))[:1000]
    chosen = db.scalars(select(Signup).where(Signup.id.in_(ids)).order_by(Signup.id)).all()
    if form.confirm.data != "yes":
        form.confirm.data = "yes"
        return render_template("admin/confirm_delete.html", form=form, rows=chosen)
    record_erasure(db, chosen)  # the webhooks' receivers forget them too
    db.execute(delete(Signup).where(Signup.id.in_([r.id for r in chosen])))
    db.commit()
    flash(f"Deleted {len(chosen)} sign-up{'s' if len(chosen) != 1 else ''}.", "info")
    return redirect(url_for("admin.signups"))


@bp.get("/export.csv")
@login_required
def export_csv() -> Response:
    filters = Filters.from_args(request.args)
    factory = session_factory()

    def rows() -> Any:
        # A session of its own: the response streams after the request's session closed.
        with factory() as db:
            yield from iter_csv(db.scalars(filters.query().execution_options(yield_per=500)))

    return Response(stream_with_context(rows()), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="signups.csv"'})
