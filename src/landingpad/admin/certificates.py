"""The Certificates page: where each host name's HTTPS certificate stands, and "Retry now".

It reads only ``landingpad.tls.status`` (the tls feature's public face); the worker does
the work, so a retry here only makes a host due and returns at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from markupsafe import Markup, escape

from landingpad import tls
from landingpad.admin.views import login_required
from landingpad.storage.types import utcnow

bp = Blueprint("certificates", __name__, url_prefix="/certificates",
               template_folder="templates")

STATES = ("valid", "renewing", "pending", "failing", "none")
EXPIRING_DAYS = 14  # the "expiring soon" section
WARN_DAYS = 7  # the summary's "expire within 7 days" (the worker mails the owner then, too)
PER_SECTION = 200  # 10,000 domains would make a page no one reads: filter to find one


@dataclass
class Section:
    key: str
    title: str
    about: str
    rows: list[tls.StatusRow]
    total: int = 0


@dataclass
class Overview:
    counts: dict[str, int]
    expiring_within_warn: int
    expired: int
    sections: list[Section] = field(default_factory=list)
    shown: int = 0  # rows matching the filter


def overview(rows: list[tls.StatusRow], now: datetime, q: str = "") -> Overview:
    """Counts over every row; sections (failing, expiring soon, pending, valid, none) over
    the rows whose name contains ``q``, each row in one section only."""
    counts = dict.fromkeys(STATES, 0)
    for row in rows:
        counts[row.state] = counts.get(row.state, 0) + 1
    served = [r for r in rows if r.not_after is not None]
    result = Overview(
        counts,
        sum(now < r.not_after <= now + timedelta(days=WARN_DAYS) for r in served),
        sum(r.not_after <= now for r in served if r.state != "none"),
    )
    wanted = [r for r in rows if q in r.domain] if q else rows
    result.shown = len(wanted)
    soon = now + timedelta(days=EXPIRING_DAYS)
    by_name: dict[str, list[tls.StatusRow]] = {k: [] for k in (*STATES, "expiring")}
    for row in wanted:
        expiring = row.state in ("valid", "renewing") and row.not_after is not None \
            and row.not_after <= soon
        # Renewing but not near its end (ARI renews early): still served, so with the valid.
        key = "expiring" if expiring else "valid" if row.state == "renewing" else row.state
        by_name.setdefault(key, []).append(row)
    far = datetime.max.replace(tzinfo=now.tzinfo)
    plan = (
        ("failing", "Failing", "The last attempt failed. The worker backs off and tries "
         "again at the next attempt; the reason says what to fix.",
         lambda r: r.domain),
        ("expiring", "Expiring soon",
         f"Served certificates that end within {EXPIRING_DAYS} days.",
         lambda r: (r.not_after or far, r.domain)),
        ("pending", "Pending", "Waiting for a first certificate: for their turn, the "
         "CA's limits, or their DNS to point here.",
         lambda r: (r.next_attempt or far, r.domain)),
        ("valid", "Valid", "Served, and not yet due for renewal.", lambda r: r.domain),
        ("none", "No certificate", "Served over plain HTTP only.", lambda r: r.domain),
    )
    for key, title, about, order in plan:
        found = sorted(by_name[key], key=order)
        result.sections.append(Section(key, title, about, found[:PER_SECTION], len(found)))
    return result


def relative(moment: datetime | None, now: datetime) -> str:
    """``moment`` as "in 3 days" / "2 hours ago" (coarse: the exact time is beside it)."""
    if moment is None:
        return ""
    seconds = (moment - now).total_seconds()
    span = abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if span >= size:
            n = int(span // size)
            text = f"{n} {unit}{'s' if n != 1 else ''}"
            return f"in {text}" if seconds > 0 else f"{text} ago"
    return "now"


_AFTER_PUNCTUATION = re.compile(r"[^/:.=&?,(]*[/:.=&?,(]?")


def breakable(text: str) -> Markup:
    """``text`` escaped, with places to wrap inside long runs (URLs, ACME error names):
    on a phone an unbroken run would push the table sideways. Each piece is escaped on
    its own, so the text stays text; only ``<wbr>`` is added."""
    parts = []
    for token in re.split(r"(\s+)", text):
        if len(token) < 20:
            parts.append(escape(token))
            continue
        chunks = []
        for piece in _AFTER_PUNCTUATION.findall(token):
            # After punctuation first; a piece still too long for a phone's column every 20.
            step = 20 if len(piece) >= 24 else max(len(piece), 1)
            chunks += [piece[i:i + step] for i in range(0, len(piece), step)]
        parts.append(Markup("<wbr>").join(escape(chunk) for chunk in chunks if chunk))
    return Markup("").join(parts)


def _query() -> str:
    return (request.values.get("q") or "").strip().lower()[:253]


@bp.get("")
@login_required
def index() -> str:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    now = utcnow()
    q = _query()
    view = overview(tls.status_rows(app), now, q)
    pending_by = tls.last_pending_by(app) if view.counts["pending"] else None
    return render_template("admin/certificates.html", view=view, q=q, now=now,
                           relative=relative, breakable=breakable, pending_by=pending_by,
                           acme_on=bool(app.config["ACME_DIRECTORY"]),
                           warn_days=WARN_DAYS, per_section=PER_SECTION)


@bp.post("/retry")
@login_required
def retry() -> Any:
    # CSRFProtect has checked the token before this runs (400 without one).
    host = (request.form.get("host") or "").strip().rstrip(".").lower()[:254]
    back = url_for(".index", q=_query() or None)
    if not host:
        flash("Name the domain to retry.", "error")
    elif not tls.retry_now(current_app._get_current_object(), host):  # type: ignore[attr-defined]
        flash(f"No certificate is queued for {host}: nothing to retry.", "error")
    else:
        flash(f"{host} is due now: the certificate worker tries it on its next pass "
              "(within a minute).", "info")
    return redirect(back)
