from datetime import timedelta

import pytest
import sqlalchemy as sa

from landingpad.storage import session_factory
from landingpad.storage.models import (
    Announcement,
    Base,
    BounceReport,
    Recipient,
    Signup,
    Suppression,
)
from landingpad.storage.signups import record_signup
from landingpad.storage.types import utcnow


def add(app, email, site="coffee.test", created_days_ago=0, confirmed=False,
        unsubscribed_days_ago=None):
    with session_factory(app)() as session:
        sid, _ = record_signup(session, site=site, email=email, interests=[],
                               consent_version="v", consent_text="t",
                               now=utcnow() - timedelta(days=created_days_ago))
        row = session.get(Signup, sid)
        if confirmed:
            row.confirmed_at = utcnow()
        if unsubscribed_days_ago is not None:
            row.unsubscribed_at = utcnow() - timedelta(days=unsubscribed_days_ago)
        session.commit()
        return sid


def everything(app) -> str:
    """Every row of every table, as one text."""
    with session_factory(app)() as session:
        return " ".join(str(tuple(r)) for t in Base.metadata.sorted_tables
                        for r in session.execute(sa.select(t)))


def test_forget_leaves_no_trace(app, runner, data_dir):
    add(app, "gone@example.com")
    add(app, "gone@example.com", site="bikes.test")
    add(app, "stays@example.com")
    with session_factory(app)() as session:
        item = Announcement(subject="Hi", body_markdown="x", sites=["coffee.test"],
                            created_at=utcnow())
        session.add(item)
        session.commit()
        session.add(Recipient(announcement_id=item.id, email="gone@example.com",
                              site="coffee.test", state="sent", attempts=1))
        # Unmatched bounce reports keep their bytes for a while: one names the address.
        for n, rcpt in enumerate((b"Gone@Example.com", b"stays@example.com")):
            session.add(BounceReport(message_hash=str(n) * 64, source="file",
                                     outcome="unmatched", reason="no VERP token",
                                     raw=b"Final-Recipient: rfc822; " + rcpt + b"\r\n",
                                     received_at=utcnow()))
        session.commit()
    mail = data_dir / "mail"
    mail.mkdir()
    (mail / "a.eml").write_bytes(b"To: Gone@Example.com\r\n\r\nhello")
    (mail / "b.eml").write_bytes(b"To: stays@example.com\r\n\r\nhello")
    assert "gone@example.com" in everything(app)

    result = runner("forget", "GONE@example.com", "--yes")
    assert result.exit_code == 0
    assert ("erased 2 sign-ups, 1 recipient rows, 1 mail files and 1 kept bounce reports"
            in result.output)
    text = everything(app)
    assert "gone@example.com" not in text.lower() and "stays@example.com" in text
    assert [p.name for p in mail.iterdir()] == ["b.eml"]
    with session_factory(app)() as session:
        assert session.scalar(sa.select(Suppression.reason)) == "forgotten"


def test_a_forgotten_address_is_never_mailed_again_even_if_reimported(app, runner, data_dir,
                                                                      add_announcement):
    add(app, "gone@example.com")
    runner("forget", "gone@example.com", "--yes")
    add(app, "gone@example.com")  # imported again
    add(app, "fine@example.com")
    ident = add_announcement()
    assert runner("announce", "send", str(ident), "--no-progress", "--force").exit_code == 0
    names = sorted(p.read_bytes().split(b"To: ")[1].split(b"\r\n")[0].decode()
                   for p in (data_dir / "mail").glob("*.eml"))
    assert names == ["fine@example.com"]


def test_unsubscribing_puts_the_address_on_the_suppression_list(app, client):
    sid = add(app, "bye@example.com")
    from landingpad.web.links import unsubscribe_token

    with app.app_context(), session_factory(app)() as session:
        token = unsubscribe_token(sid, session.get(Signup, sid).link_key)
    client.post(f"/unsubscribe/{token}", headers={"Host": "coffee.test"})
    with session_factory(app)() as session:
        hashes = session.scalars(sa.select(Suppression.address_hash)).all()
    assert len(hashes) == 1 and "bye" not in hashes[0]


def test_purge_by_age_and_dry_run(app, runner):
    add(app, "old-unconfirmed@example.com", site="bikes.test", created_days_ago=10)
    add(app, "new-unconfirmed@example.com", site="bikes.test", created_days_ago=2)
    add(app, "old-confirmed@example.com", site="bikes.test", created_days_ago=10,
        confirmed=True)
    add(app, "no-optin@example.com", site="coffee.test", created_days_ago=400)
    add(app, "left-long-ago@example.com", unsubscribed_days_ago=40)
    add(app, "left-recently@example.com", unsubscribed_days_ago=3)
    with session_factory(app)() as session:
        session.add(Announcement(subject="old", body_markdown="x", sites=["coffee.test"],
                                 created_at=utcnow() - timedelta(days=200)))
        session.add(Announcement(subject="new", body_markdown="x", sites=["coffee.test"],
                                 created_at=utcnow()))
        session.commit()
    dry = runner("purge", "--dry-run")
    assert dry.exit_code == 0
    assert "would delete: 1 unconfirmed sign-ups (>7d), 1 unsubscribed sign-ups (>30d), " \
           "1 announcements (>180d)" in dry.output
    before = everything(app)
    assert everything(app) == before
    assert runner("purge").exit_code == 0
    with session_factory(app)() as session:
        left = set(session.scalars(sa.select(Signup.email)))
        subjects = set(session.scalars(sa.select(Announcement.subject)))
    assert left == {"new-unconfirmed@example.com", "old-confirmed@example.com",
                    "no-optin@example.com", "left-recently@example.com"}
    assert subjects == {"new"}
    custom = runner("purge", "--unsubscribed-older-than", "0d", "--dry-run")
    assert "1 unsubscribed sign-ups (>0d)" in custom.output


@pytest.mark.parametrize("age", ["7x", "d", "-3d", "7"])
def test_purge_refuses_bad_ages(runner, age, backend):
    result = runner("purge", "--unconfirmed-older-than", age)
    assert result.exit_code == 2 and "7d or 4w" in result.output



def test_mail_copies_go_by_whole_address_only(tmp_path):
    """One function for `forget` and the erasure from the web; "bob@x" is not "jimbob@x"."""
    from landingpad.privacy.erasure import erase_mail_copies

    mail = tmp_path / "mail"
    mail.mkdir()
    files = {
        "to.eml": b"To: Bob@Example.com\r\n\r\nhello",
        "named.eml": b"To: other@example.com\r\n\r\nwrite to bob@example.com.",
        "encoded.eml": b"To: =?utf-8?q?B=C3=B6b?= <bob@example.com>\r\n\r\nhi",
        ".half.eml.123.tmp": b"To: bob@example.com\r\n\r\nhal",
        "longer.eml": b"To: jimbob@example.com\r\n\r\nhello",
        "dotted.eml": b"To: jim.bob@example.com\r\n\r\nhello",
        "other-domain.eml": b"To: bob@example.com.au\r\n\r\nhello",
        "subdomain.eml": b"To: bob@example.community\r\n\r\nhello",
    }
    for name, data in files.items():
        (mail / name).write_bytes(data)
    erased = erase_mail_copies(mail, " BOB@example.com ")
    assert sorted(p.name for p in erased) == [".half.eml.123.tmp", "encoded.eml",
                                              "named.eml", "to.eml"]
    assert sorted(p.name for p in mail.iterdir()) == [
        "dotted.eml", "longer.eml", "other-domain.eml", "subdomain.eml"]
    assert erase_mail_copies(tmp_path / "none", "bob@example.com") == []
