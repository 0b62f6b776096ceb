"""The announcement in the admin area: compose, preview, test, send in the background."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    url_for,
)
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import AnyOf, InputRequired, Length, Optional, Regexp

from landingpad import dnscheck
from landingpad.admin.views import login_required
from landingpad.announce import (
    AnnouncementState,
    announcement_state,
    counts,
    render_email,
    send_test_copy,
)
from landingpad.bounces import announcement_rates, unmatched_reports
from landingpad.files import PRIVATE_DIR, make_dir, open_private, read_tail
from landingpad.mail.address import normalise_email
from landingpad.mail.transports import DeliveryError
from landingpad.settings import as_environ
from landingpad.sites import get_registry
from landingpad.storage import get_session
from landingpad.storage.models import Announcement
from landingpad.storage.types import utcnow

log = logging.getLogger(__name__)
bp = Blueprint("announcements", __name__, url_prefix="/announcements",
               template_folder="templates")
ONE_LINE = Regexp(r"^[^\r\n\x00]*$", message="One line, please.")


class ComposeForm(FlaskForm):
    sites = SelectMultipleField("Send to the sign-ups of", validators=[InputRequired()])
    interest = StringField("Only those interested in (optional)",
                           validators=[Optional(), Length(max=80), ONE_LINE])
    subject = StringField("Subject", validators=[InputRequired(), Length(max=200), ONE_LINE])
    body = TextAreaField("Message (Markdown)", validators=[InputRequired(),
                                                           Length(max=100_000)])


class TestForm(FlaskForm):
    to = EmailField("Send a test to", validators=[InputRequired(), Length(max=254)])


class SendForm(FlaskForm):
    confirm = HiddenField(validators=[AnyOf(["yes"])])
    force = BooleanField("Send even if DKIM or DMARC records are missing or wrong")


@bp.route("/", methods=["GET", "POST"])
@login_required
def index() -> Any:
    form = ComposeForm()
    form.sites.choices = get_registry().domains()
    db = get_session()
    if form.validate_on_submit():
        item = Announcement(subject=form.subject.data.strip(), body_markdown=form.body.data,
                            sites=form.sites.data, interest=form.interest.data or None,
                            created_at=utcnow())
        db.add(item)
        db.commit()
        flash("Announcement saved. Preview it and send yourself a test before sending.", "info")
        return redirect(url_for(".detail", ident=item.id))
    items = db.scalars(select(Announcement).order_by(Announcement.id.desc())).all()
    rows = []
    for item in items:
        per_state = counts(db, item.id)
        rows.append((item, per_state, announcement_rates(db, item.id, per_state["sent"])))
    return render_template("admin/announcements.html", form=form, rows=rows,
                           unmatched=unmatched_reports(db, 10)), \
        400 if form.is_submitted() else 200


def _load(ident: int) -> Announcement:
    item = get_session().get(Announcement, ident)
    if item is None:
        abort(404)
    return item


@bp.get("/<int:ident>")
@login_required
def detail(ident: int) -> str:
    item = _load(ident)
    per_state = counts(get_session(), ident)
    sending = announcement_state(item, per_state) == AnnouncementState.SENDING
    rates = announcement_rates(get_session(), ident, per_state["sent"])
    return render_template("admin/announcement.html", item=item, counts=per_state, rates=rates,
                           sending=sending, test_form=TestForm(), send_form=SendForm(),
                           sender_said=sender_said(ident))


SAID_LINES = 8  # the sender's last lines shown
SAID_BYTES = 8192  # read from the end of its log, at most
STARTED = "--- sending started"  # the line send() writes before each run


def _log_path(ident: int) -> Path:
    return Path(current_app.config["DATA_DIR"]) / "logs" / f"announce-{ident}.log"


def sender_said(ident: int) -> tuple[list[str], str | None] | None:
    """What the sender of the last run started from this page wrote (why it stopped,
    when it did: no mail server, a refused login...), its last lines, and when; None
    before any run."""
    path = _log_path(ident)
    try:
        tail, written, whole = read_tail(path, SAID_BYTES)
    except FileNotFoundError:
        return None
    except OSError as exc:  # not a plain file, unreadable: say so rather than fail the page
        log.warning("announcement %s: the sender's log can't be read: %s", ident, exc)
        return [f"({path.name} can't be read: {exc.strerror or exc})"], None
    lines = tail.decode(errors="replace").splitlines()
    if not whole and len(lines) > 1:
        lines = lines[1:]  # read from inside a line: its end alone says little
    starts = [i for i, line in enumerate(lines) if line.startswith(STARTED)]
    lines = [line for line in lines[starts[-1] if starts else 0:] if line.strip()]
    if not lines:
        return None
    return lines[-SAID_LINES:], datetime.fromtimestamp(written, UTC).isoformat()


@bp.get("/<int:ident>/preview.html")
@login_required
def preview(ident: int) -> Response:
    item = _load(ident)
    site = get_registry().site_for_host(item.sites[0])
    _, html = render_email(site, item.subject, item.body_markdown,
                           f"https://{site.domain}/unsubscribe/PREVIEW")
    response = Response(html, mimetype="text/html")
    # Email HTML needs inline styles; it is sanitised, sandboxed and never runs script.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https:; sandbox; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
    return response


@bp.post("/<int:ident>/test")
@login_required
def send_test(ident: int) -> Response:
    from email_validator import EmailNotValidError


    item = _load(ident)
    form = TestForm()
    try:
        to = normalise_email(form.to.data or "") if form.validate_on_submit() else None
    except EmailNotValidError as exc:
        flash(f"Not sent: {exc}", "error")
        return redirect(url_for(".detail", ident=ident))
    if to is None:
        flash("Not sent: enter an email address.", "error")
        return redirect(url_for(".detail", ident=ident))
    try:
        send_test_copy(item, to)
        flash(f"Test sent to {to}.", "info")
    except DeliveryError as exc:
        flash(f"Not sent: {exc}", "error")
    return redirect(url_for(".detail", ident=ident))


@bp.post("/<int:ident>/send")
@login_required
def send(ident: int) -> Response:
    item = _load(ident)
    form = SendForm()
    if not form.validate_on_submit():
        abort(400)
    if not form.force.data:
        # Checked here (at most CACHE_SECONDS old, as the Deliverability page shows it), so
        # the owner sees why; the sender then gets --force and doesn't check again.
        reasons = dnscheck.send_blockers(current_app.config, get_registry(), item.sites,
                                         cached=True)
        if reasons:
            for reason in reasons:
                flash(f"Not sent: {reason}", "error")
            flash("Fix these records (see Deliverability), or tick \"Send even if ...\" to "
                  "send anyway.", "error")
            return redirect(url_for(".detail", ident=ident))
    # A process of its own (`announce send`, i.e. send_announcement, like everything that
    # sends one): it outlives this request and a uWSGI worker recycle.
    make_dir(_log_path(ident).parent, PRIVATE_DIR)
    landingpad = Path(sys.executable).with_name("landingpad")
    # 0600: the sender's log may quote what a mail server said about a recipient.
    with os.fdopen(open_private(_log_path(ident), append=True), "ab") as output:
        # The page shows this run's lines only, from here (the sender may say nothing
        # until it stops, and the previous run's stop is no longer news).
        started = datetime.now(UTC).isoformat(timespec="seconds")
        output.write(f"{STARTED} {started} ---\n".encode())
        output.flush()
        subprocess.Popen([str(landingpad), "announce", "send", str(ident), "--no-progress",
                          "--force"],
                         env={**os.environ, **as_environ(current_app.config)},
                         stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    flash("Sending started. This page shows the progress.", "info")
    return redirect(url_for(".detail", ident=ident))
