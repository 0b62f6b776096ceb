"""Each recipient's message from one template per site: the fast path equals the slow one,
and anything the template can't carry is built in full."""

import email
from email import policy

import pytest

from landingpad.announce.template import Messages, SiteMail, message_id
from landingpad.sites import get_registry
from landingpad.storage.models import Announcement, Recipient

URL = "https://coffee.test/unsubscribe/TOKEN"


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=policy.default)


@pytest.fixture
def site(app):
    with app.app_context():
        yield get_registry(app).site_for_host("coffee.test")


def same_message(a: bytes, b: bytes) -> None:
    a, b = parse(a), parse(b)
    for header in ("From", "To", "Reply-To", "Subject", "Message-ID", "List-Unsubscribe",
                   "List-Unsubscribe-Post"):
        assert a[header] == b[header], header
    for kind in ("plain", "html"):
        assert a.get_body((kind,)).get_content() == b.get_body((kind,)).get_content(), kind


def test_the_byte_template_equals_a_fully_built_message(site):
    mail = SiteMail.build(site, "We launched",
                          "Café **ouvert** — 100% sûr.\n\n[Menu](https://coffee.test/m)")
    assert mail.template is not None  # the fast path is taken for this body
    args = ("fan@example.com", "<announce-1-2@coffee.test>", URL)
    fast, full = mail.render(*args), mail.without_template().render(*args)
    same_message(fast, full)
    message = parse(fast)
    assert "Café" in message.get_body(("plain",)).get_content()
    assert message["List-Unsubscribe"] == f"<{URL}>"
    assert f"Unsubscribe: {URL}" in message.get_body(("plain",)).get_content()


def test_each_message_gets_its_own_date(site):
    from datetime import UTC, datetime

    mail = SiteMail.build(site, "We launched", "Hello.")
    when = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
    data = mail.render("fan@example.com", "<x@coffee.test>", URL, now=when)
    assert parse(data)["Date"].datetime == when


def test_a_body_the_email_package_encodes_is_built_in_full(site):
    """Base64 hides the slots: no template, and every message is still right."""
    mail = SiteMail.build(site, "We launched", "é" * 1200)
    assert mail.template is None
    message = parse(mail.render("fan@example.com", "<announce-1-2@coffee.test>", URL))
    assert str(message["To"]) == "fan@example.com"
    assert message["Message-ID"] == "<announce-1-2@coffee.test>"
    assert message["List-Unsubscribe"] == f"<{URL}>"
    assert URL in message.get_body(("plain",)).get_content()


def test_a_non_ascii_address_takes_the_full_path(site):
    mail = SiteMail.build(site, "We launched", "Hello.")
    assert mail.template is not None
    args = ("jörg@example.de", "<announce-1-2@coffee.test>", URL)
    data = mail.render(*args)
    assert "To: jörg@example.de\r\n".encode() in data  # raw UTF-8: for SMTPUTF8 servers
    same_message(data, mail.without_template().render(*args))


@pytest.fixture
def messages(app):
    with app.app_context():
        item = Announcement(id=4, subject="We launched", body_markdown="Hello **all**.",
                            sites=["coffee.test"], message_key="k" * 32)
        yield Messages(app, item, sign=lambda data, from_address: b"SIGNED " + data)


def row(email="fan@example.com", site="coffee.test", signup_id=3):
    return Recipient(id=9, announcement_id=4, email=email, site=site, signup_id=signup_id,
                     attempts=0)


def test_a_ready_message_is_signed_with_its_envelope_and_id(messages):
    ready = messages.prepare(row(email="joerg@exämple.de"), "linkkey")
    assert ready.error is None and ready.data.startswith(b"SIGNED ")
    assert ready.envelope == ("hello@coffee.test", "joerg@xn--exmple-cua.de")
    assert ready.message_id == message_id(messages.announcement, 9, "coffee.test") == \
        f"<announce-4-9.{'k' * 32}@coffee.test>"
    assert parse(ready.data[len(b"SIGNED "):])["Message-ID"] == ready.message_id


@pytest.mark.parametrize(("recipient", "link_key", "error"), [
    (row(), None, "unsubscribed or deleted before sending"),
    (row(signup_id=None), "linkkey", "unsubscribed or deleted before sending"),
    (row(site="gone.test"), "linkkey", "gone.test is no longer configured"),
    (row(site="gone.test"), None, "gone.test is no longer configured"),
])
def test_a_row_that_must_not_go_says_why(messages, recipient, link_key, error):
    assert messages.prepare(recipient, link_key).error == error


def test_an_address_the_email_package_cannot_carry_fails_alone(messages):
    ready = messages.prepare(row(email="broken@exä..mple.de"), "linkkey")
    assert ready.error.startswith("message not built") and ready.data == b""


def test_a_site_is_rendered_once_per_announcement(messages):
    assert messages.for_site("coffee.test") is messages.for_site("coffee.test")
    assert messages.for_site("gone.test") is None


def test_the_footer_and_unsubscribe_link_follow_the_language_signed_up_in(app_config,
                                                                            data_dir):
    from landingpad import create_app
    from tests.conftest import SITES_TOML

    (data_dir / "sites.toml").write_text(
        SITES_TOML + '\n[sites."world.test"]\nLANDING_LANGS = ["en", "de", "ar"]\n')
    app = create_app(app_config)
    try:
        with app.app_context():
            item = Announcement(id=4, subject="We launched", body_markdown="Hello.",
                                sites=["world.test"], message_key="k" * 32)
            messages = Messages(app, item, sign=lambda data, from_address: data)

            def sent(lang):
                return parse(messages.prepare(row(site="world.test"), "linkkey", lang).data)

            german, arabic, english = sent("de"), sent("ar"), sent(None)
            assert "Sie erhalten diese E-Mail, weil Sie sich bei world.test angemeldet haben." \
                in german.get_body(("plain",)).get_content()
            assert "?lang=de>" in german["List-Unsubscribe"]
            assert '<html lang="ar" dir="rtl">' in arabic.get_body(("html",)).get_content()
            assert "You get this because you signed up at world.test." \
                in english.get_body(("plain",)).get_content()
            assert "?lang=en>" in english["List-Unsubscribe"]
            # A language the site no longer offers: its default, the same message.
            assert messages.for_site("world.test", "fr") is messages.for_site("world.test")
            assert german["Subject"] == "We launched"  # the owner's words, as written
    finally:
        app.extensions["landingpad.db"].dispose()
