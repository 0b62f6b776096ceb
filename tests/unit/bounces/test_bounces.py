"""Bounces and complaints, end to end: a real Postfix writes the DSNs, a real Dovecot
holds them, `landingpad bounces fetch` reads them over IMAPS."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from landingpad.announce import send_announcement
from landingpad.announce.template import message_id
from landingpad.bounces import Processor, announcement_rates
from landingpad.bounces.process import KEPT_BYTES
from landingpad.mail.verp import read_token, token_of
from landingpad.storage import session_factory
from landingpad.storage.models import (
    Announcement,
    Bounce,
    BounceReport,
    Recipient,
    Signup,
    Suppression,
)
from landingpad.storage.signups import record_signup
from landingpad.storage.suppression import suppressed
from landingpad.storage.types import utcnow
from tests.conftest import TEST_SECRET
from tests.unit.bounces.conftest import (
    DOMAIN,
    HARD,
    SOFT,
    arf_report,
    envelope_sender,
    write,
)


def _signup(app, email_address: str, site: str) -> None:
    with session_factory(app)() as session:
        record_signup(session, site=site, email=email_address, interests=[],
                      consent_version="v", consent_text="t")
        session.execute(sa.update(Signup).values(confirmed_at=utcnow()))
        session.commit()


def _suppressed(app, *addresses: str) -> set[str]:
    with session_factory(app)() as session:
        return suppressed(session, TEST_SECRET, list(addresses))


def _count(app, model) -> int:
    with session_factory(app)() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(model))


def test_a_hard_bounce_from_a_real_mta_suppresses_the_address_on_every_site(
        app_sending_to, bounce_config, postfix, mailbox, bounces_cli, add_announcement):
    app = app_sending_to(postfix.port, **{k: bounce_config[k] for k in (
        "BOUNCE_DOMAIN", "BOUNCE_IMAP_URL", "BOUNCE_CA_BUNDLE")})
    for site in ("coffee.test", "bikes.test"):
        _signup(app, HARD, site)
    # Refused too, but its DSN never reaches the bounce mailbox: not suppressed.
    _signup(app, "kept@remote.test", "coffee.test")
    first = add_announcement(app, sites=["coffee.test"])
    send_announcement(app, first)

    with session_factory(app)() as session:
        row = session.scalar(sa.select(Recipient).where(Recipient.email == HARD))
    verp = envelope_sender(HARD, recipient_id=row.id)
    assert verp.startswith("bounces+") and len(verp.partition("@")[0]) <= 64
    # Each backend's run makes the same VERP address (row 1): the Message-ID tells them apart.
    with session_factory(app)() as session:
        announcement = session.get(Announcement, first)
        mid = message_id(announcement, row.id, "coffee.test")
    dsn, = postfix.wait_dsns(verp, about=mid.encode())
    mailbox.deliver(dsn)

    result = bounces_cli("fetch")
    assert result.exit_code == 0, result.output
    assert "1 messages read: 1 hard" in result.output
    assert _suppressed(app, HARD, "kept@remote.test") == {HARD}
    with session_factory(app)() as session:
        bounce = session.scalar(sa.select(Bounce))
        assert (bounce.kind, bounce.site, bounce.announcement_id, bounce.status) == (
            "hard", "coffee.test", first, "5.1.1")
        assert announcement_rates(session, first, 1).hard == 1
    # Suppressed for every site: the next announcement, to the other site, skips it.
    second = add_announcement(app, sites=["bikes.test"])
    send_announcement(app, second)
    with session_factory(app)() as session:
        assert session.scalars(sa.select(Recipient.email).where(
            Recipient.announcement_id == second)).all() == []


def test_soft_bounces_suppress_at_the_third_and_a_second_fetch_counts_nothing_again(
        bounce_app, dsns, mailbox, bounces_cli, tmp_path):
    first, second, third = dsns[SOFT]
    mailbox.deliver(first)
    mailbox.deliver(second)
    assert "2 messages read: 2 soft" in bounces_cli("fetch").output
    assert _suppressed(bounce_app, SOFT) == set()
    assert "0 messages read" in bounces_cli("fetch").output  # flagged in the mailbox
    # The same report again (a copy in the mailbox, or a file): recorded once only.
    mailbox.deliver(second)
    assert "1 messages read: 1 duplicate" in bounces_cli("fetch").output
    # IMAP gave it with CRLF line ends; the file has Maildir's LF: still the same report.
    assert b"\r\n" not in second
    again = write(tmp_path, "again.eml", second)
    assert "1 reports read: 1 duplicate" in bounces_cli("import", str(again)).output
    assert _suppressed(bounce_app, SOFT) == set()

    mailbox.deliver(third)
    assert "1 messages read: 1 soft" in bounces_cli("fetch").output
    assert _suppressed(bounce_app, SOFT) == {SOFT}
    assert _count(bounce_app, Bounce) == 3
    with session_factory(bounce_app)() as session:
        assert session.scalar(sa.select(Suppression.reason)) == "soft-bounce"


def test_a_complaint_suppresses_at_once(
        bounce_app, mailbox, bounces_cli, tmp_path, add_announcement):
    announcement = add_announcement(bounce_app, recipients_at=utcnow())
    with session_factory(bounce_app)() as session:
        rows = [Recipient(announcement_id=announcement, email=f"r{n}@remote.test",
                          site="coffee.test", state="sent") for n in range(3)]
        session.add_all(rows)
        session.commit()
        ids = [r.id for r in rows]
    # A feedback loop that redacts the address: the VERP token alone says who.
    mailbox.deliver(arf_report(envelope_sender("", recipient_id=ids[0]), None, 1))
    assert "1 messages read: 1 complaint" in bounces_cli("fetch").output
    # One that names it, imported from a file.
    path = write(tmp_path, "arf.eml", arf_report(envelope_sender("", recipient_id=ids[1]),
                                                 "r1@remote.test", 2))
    assert "1 reports read: 1 complaint" in bounces_cli("import", str(path)).output
    assert _suppressed(bounce_app, *(f"r{n}@remote.test" for n in range(3))) == {
        "r0@remote.test", "r1@remote.test"}
    with session_factory(bounce_app)() as session:
        rates = announcement_rates(session, announcement, 3)
    assert (rates.complaints, rates.complaint_level) == (2, "over")



def test_reports_that_cant_be_matched_are_kept_aside_and_listed(
        bounce_app, dsns, mailbox, bounces_cli):
    real = dsns[HARD][0]
    verp = envelope_sender(HARD)
    token = token_of(verp, DOMAIN)
    garbled = token[:5] + ("a" if token[5] != "a" else "b") + token[6:]
    assert read_token(TEST_SECRET, garbled) is None
    mailbox.deliver(real.replace(token.encode(), garbled.encode()))  # forged token
    mailbox.deliver(real.replace(verp.encode(), b"owner@coffee.test"))  # no VERP address
    # A valid token for HARD, used on a report about someone else: not matched.
    mailbox.deliver(real.replace(HARD.encode(), b"victim@remote.test"))
    # Mail that isn't a report at all, to a valid VERP address.
    mailbox.deliver(f"From: someone@remote.test\r\nTo: {verp}\r\nSubject: Out of office"
                    "\r\n\r\nBack Monday.\r\n".encode())

    # A subject with a NUL (Dovecot hands it out as 0x80) and an escape sequence: stored
    # and shown without them.
    mailbox.deliver(b"From: x@remote.test\r\nTo: bounces@bounce.example.test\r\n"
                    b"Subject: a\x00b\x1b[31mc\r\n\r\nhi\r\n")

    result = bounces_cli("fetch")
    assert "5 messages read: 5 unmatched (kept aside: landingpad bounces list)" in result.output
    assert _suppressed(bounce_app, HARD, "victim@remote.test") == set()
    assert _count(bounce_app, Bounce) == 0
    listed = bounces_cli("list").output
    for reason in ("VERP token is not valid", "not addressed to a VERP address",
                   "not the one its VERP token names", "no failure or complaint found"):
        assert reason in listed
    assert "Out of office" in listed and "b [31mc'" in listed and "\x1b" not in listed
    with session_factory(bounce_app)() as session:
        kept = session.scalar(sa.select(BounceReport).where(
            BounceReport.subject == "Out of office"))
    shown = bounces_cli("show", str(kept.id))
    assert shown.exit_code == 0 and "Back Monday." in shown.output


@pytest.mark.backends("sqlite")  # nothing reaches the database: the dialect adds nothing
@pytest.mark.parametrize("case", ["password", "port", "ca", "folder", "scheme"])
def test_a_mailbox_that_cant_be_read_is_a_clear_error_and_changes_nothing(
        case, bounce_app, dsns, mailbox, bounces_cli, dovecot, tmp_path):
    mailbox.deliver(dsns[HARD][0])
    env = {
        "password": {"LANDINGPAD_BOUNCE_IMAP_URL": mailbox.url(password="wrong-pass")},
        "port": {"LANDINGPAD_BOUNCE_IMAP_URL": mailbox.url(port=1)},
        "ca": {"LANDINGPAD_BOUNCE_CA_BUNDLE": ""},  # the system's store: self-signed fails
        "folder": {"LANDINGPAD_BOUNCE_IMAP_URL": mailbox.url(folder="Nope")},
        "scheme": {"LANDINGPAD_BOUNCE_IMAP_URL": mailbox.url(password="wrong-pass")
                   .replace("imaps://", "imap://")},
    }[case]
    result = bounces_cli("fetch", **env)
    assert result.exit_code == 1
    expected = {"password": "login refused", "port": "cannot connect",
                "ca": "TLS failed", "folder": "no such mailbox",
                "scheme": "must be an imaps:// URL"}[case]
    assert expected in result.output
    assert "wrong-pass" not in result.output and "s3cret" not in result.output
    assert _count(bounce_app, BounceReport) == 0
    assert "1 messages read: 1 hard" in bounces_cli("fetch").output  # still there, unflagged


def test_files_that_arent_mail_are_refused_and_nothing_is_imported(
        bounce_app, dsns, bounces_cli, tmp_path):
    good = write(tmp_path, "good.eml", dsns[HARD][0])
    mbox = write(tmp_path, "box.mbox", b"".join(
        b"From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n" + raw.replace(b"\r\n", b"\n")
        .replace(b"\nFrom ", b"\n>From ") + b"\n" for raw in dsns[SOFT]))
    for bad, words in ((write(tmp_path, "png.eml", b"\x89PNG\r\n\x1a\n\x00\x00"),
                        "png.eml: not an email message"),
                       (write(tmp_path, "empty.eml", b""), "empty.eml: not an email message"),
                       (tmp_path / "missing.eml", "missing.eml: cannot read it")):
        result = bounces_cli("import", str(good), str(mbox), str(bad))
        assert result.exit_code == 1 and words in result.output
        assert "nothing imported" in result.output
        assert _count(bounce_app, BounceReport) == 0
    result = bounces_cli("import", str(good), str(mbox), str(good))  # one commit, a copy
    assert "5 reports read: 1 hard, 3 soft, 1 duplicate" in result.output
    assert _suppressed(bounce_app, HARD, SOFT) == {HARD, SOFT}
    assert "4 reports read: 4 duplicate" in bounces_cli("import", str(good), str(mbox)).output


def test_an_unmatched_report_keeps_only_the_start_of_its_bytes(bounce_app):
    # Anyone can mail the bounce address: what is kept aside must stay small.
    junk = b"From: x@remote.test\r\nSubject: junk\r\n\r\n" + b"x" * (3 * KEPT_BYTES)
    assert Processor(bounce_app).process(junk, "file") == "unmatched"
    with session_factory(bounce_app)() as session:
        kept = session.scalar(sa.select(BounceReport.raw))
    assert kept == junk[:KEPT_BYTES]


def test_a_report_is_processed_once_even_by_two_readers(bounce_app, dsns):
    first, second = Processor(bounce_app), Processor(bounce_app)
    assert first.process(dsns[HARD][0], "file") == "hard"
    assert second.process(dsns[HARD][0], "file") == "duplicate"
