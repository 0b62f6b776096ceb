"""The Deliverability page: each domain's mail records, as `landingpad dns check` shows them.

Read-only. Reports come from ``dnscheck.cached_reports`` (each domain asked of DNS at most
every few minutes per worker), and at most PER_PAGE domains are checked per view: an
install with thousands of domains filters to the ones it wants.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, current_app, render_template, request

from landingpad import dnscheck
from landingpad.admin.certificates import breakable
from landingpad.admin.views import login_required
from landingpad.sites import get_registry

bp = Blueprint("deliverability", __name__, url_prefix="/deliverability",
               template_folder="templates")

PER_PAGE = 25


@bp.get("")
@login_required
def index() -> str:
    q = (request.args.get("q") or "").strip().lower()[:253]
    registry = get_registry()
    names = dnscheck.checked_domains(registry)
    wanted = [d for d in names if q in d] if q else names
    made = dnscheck.cached_reports(current_app.config, registry, wanted[:PER_PAGE])
    checked_at = min((at for _, at in made), default=None)
    return render_template(
        "admin/deliverability.html", reports=[r for r, _ in made], q=q, total=len(wanted),
        per_page=PER_PAGE, cache_minutes=int(dnscheck.CACHE_SECONDS // 60),
        checked_at=datetime.fromtimestamp(checked_at, UTC) if checked_at else None,
        breakable=breakable, blocking=dnscheck.BLOCKING)
