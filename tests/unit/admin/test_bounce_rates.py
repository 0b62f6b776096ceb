"""The announcement pages show bounce and complaint rates, warn near 0.1 % complaints,
and list the bounce reports kept aside."""

from __future__ import annotations

import sqlalchemy as sa

from landingpad.storage import session_factory
from landingpad.storage.models import Announcement, Bounce, BounceReport, Recipient
from landingpad.storage.types import utcnow
from tests.unit.admin.conftest import ADMIN

H = {"Host": ADMIN}


def _announcement(app, sent: int, complaints: int, hard: int) -> int:
    now = utcnow()
    with session_factory(app)() as session:
        item = Announcement(subject="Launch", body_markdown="b", sites=["coffee.test"],
                            created_at=now, recipients_at=now)
        session.add(item)
        session.flush()
        session.execute(sa.insert(Recipient), [
            {"announcement_id": item.id, "email": f"r{n}@remote.test", "site": "coffee.test",
             "state": "sent", "attempts": 1} for n in range(sent)])
        report = BounceReport(message_hash=f"{item.id:064x}", source="file",
                              outcome="complaint", received_at=now)
        session.add(report)
        session.flush()
        kinds = ["complaint"] * complaints + ["hard"] * hard
        session.add_all(Bounce(report_id=report.id, kind=kind, address_hash=f"{n:064x}",
                               site="coffee.test", announcement_id=item.id, created_at=now)
                        for n, kind in enumerate(kinds))
        session.commit()
        return item.id


def test_rates_per_announcement_and_a_warning_near_the_complaint_limit(app, logged_in):
    near = _announcement(app, sent=1250, complaints=1, hard=30)   # 0.08 %, 2.4 %
    calm = _announcement(app, sent=1250, complaints=0, hard=1)
    page = logged_in.get(f"/announcements/{near}", headers=H).get_data(as_text=True)
    assert "0.080 %</span> complained" in page and "2.40 %</span> bounced" in page
    assert "near the 0.1 %" in page and "many addresses on the list are dead" in page
    page = logged_in.get(f"/announcements/{calm}", headers=H).get_data(as_text=True)
    assert "0.000 %</span> complained" in page and "near the 0.1 %" not in page
    assert "dead" not in page
    index = logged_in.get("/announcements/", headers=H).get_data(as_text=True)
    assert "1 (0.08 %)" in index and "31 (2.48 %)" not in index and "30 (2.40 %)" in index


def test_reports_kept_aside_are_listed(app, logged_in):
    with session_factory(app)() as session:
        session.add(BounceReport(message_hash="f" * 64, source="imap", outcome="unmatched",
                                 reason="not addressed to a VERP address at b.test",
                                 subject="<b>Out of office</b>", raw=b"x",
                                 received_at=utcnow()))
        session.commit()
    index = logged_in.get("/announcements/", headers=H).get_data(as_text=True)
    assert "Bounce reports kept aside" in index
    assert "not addressed to a VERP address at b.test" in index
    assert "&lt;b&gt;Out of office&lt;/b&gt;" in index  # escaped
