"""The welcome mail, through a real SMTP server: once per sign-up, after confirmation on
a double opt-in site, with the one-click unsubscribe headers; none without a text."""

from __future__ import annotations

import re
import time

import pytest

from tests.smtp_sink import Sink

SITES = '''\
[sites."coffee.test"]
LANDING_TITLE = "Coffee Club"
LANDING_WELCOME = """
Thanks for signing up!

We roast **every Tuesday**. <script>alert(1)</script>
"""

[sites."bikes.test"]
LANDING_TITLE = "Bike Collective"
LANDING_DOUBLE_OPTIN = true
LANDING_WELCOME = "Welcome aboard."
LANDING_WELCOME_SUBJECT = "You're in"

[sites."plain.test"]
LANDING_TITLE = "Plain"

[sites."kaffee.test"]
LANDING_TITLE = "Kaffeeklub"
LANDING_LANG = "en"
LANDING_LANGS = ["en", "de"]
LANDING_WELCOME = "Danke!"
'''


@pytest.fixture(scope="module")
def sink():
    with Sink() as running:
        yield running


@pytest.fixture
def app(app_sending_to, data_dir, sink):
    (data_dir / "sites.toml").write_text(SITES)
    sink.handler.messages.clear()
    return app_sending_to(sink.port)


def sign_up(app, host: str, email: str, query: str = "") -> None:
    token = app.extensions["landingpad.tokens"].issue(host, now=time.time() - 5)
    response = app.test_client().post(
        "/signup" + query, data={"email": email, "consent": "y", "token": token},
        headers={"Host": host}, buffered=True)  # closed at once: the after-response mail went
    assert response.status_code == 303


def to(sink, email: str) -> list:
    return [m for m in sink.handler.messages if m["To"] == email]


def test_single_opt_in_welcomes_once_with_unsubscribe_headers(app, sink):
    sign_up(app, "coffee.test", "alice@example.com")
    sign_up(app, "coffee.test", "alice@example.com")  # a repeat: no second welcome
    [mail] = to(sink, "alice@example.com")
    assert mail["Subject"] == "Welcome to Coffee Club"
    assert re.fullmatch(r"<https://coffee\.test/unsubscribe/\S+>", mail["List-Unsubscribe"])
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = next(p for p in mail.walk() if p.get_content_type() == "text/html")
    body = html.get_payload(decode=True).decode()
    assert "<strong>every Tuesday</strong>" in body and "<script" not in body
    # The unsubscribe link works (one-click POST, as mail providers send it).
    url = mail["List-Unsubscribe"].strip("<>").removeprefix("https://coffee.test")
    response = app.test_client().post(url, headers={"Host": "coffee.test"},
                                      data="List-Unsubscribe=One-Click",
                                      content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200


def test_the_welcome_is_in_the_language_the_visitor_signed_up_in(app, sink):
    sign_up(app, "kaffee.test", "karl@example.com", "?lang=de")
    [mail] = to(sink, "karl@example.com")
    assert mail["Subject"] == "Willkommen bei Kaffeeklub"
    assert mail["List-Unsubscribe"].endswith("?lang=de>")
    text = next(p for p in mail.walk() if p.get_content_type() == "text/plain")
    assert "Danke!" in text.get_payload(decode=True).decode()
    assert "Abmelden:" in text.get_payload(decode=True).decode()  # the footer in German


def test_double_opt_in_welcomes_only_after_confirming_and_once(app, sink):
    from landingpad.storage import session_factory
    from landingpad.storage.models import Signup
    from landingpad.web.links import confirm_token

    sign_up(app, "bikes.test", "bob@example.com")
    [confirmation] = to(sink, "bob@example.com")  # no welcome yet
    assert confirmation["Subject"].startswith("Please confirm")
    with session_factory(app)() as session, app.app_context():
        row = session.query(Signup).filter_by(email="bob@example.com").one()
        link = f"/confirm/{confirm_token(row.id, row.link_key)}"
    client = app.test_client()
    for _ in range(2):  # confirmed twice: one welcome
        assert client.post(link, headers={"Host": "bikes.test", "Origin": "https://bikes.test"},
                           buffered=True).status_code == 200
    mails = to(sink, "bob@example.com")
    assert [m["Subject"] for m in mails] == [confirmation["Subject"], "You're in"]
    assert mails[1]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_no_welcome_text_no_mail(app, sink):
    sign_up(app, "plain.test", "carol@example.com")
    assert to(sink, "carol@example.com") == []


def test_an_unsubscribed_or_erased_sign_up_is_not_welcomed(app, sink):
    from landingpad.storage import session_factory
    from landingpad.storage.models import Signup
    from landingpad.storage.types import utcnow
    from landingpad.welcome import welcome_message

    sign_up(app, "plain.test", "dave@example.com")
    site = app.extensions["landingpad.sites"].site_for_host("coffee.test")
    with session_factory(app)() as session:
        row = session.query(Signup).filter_by(email="dave@example.com").one()
        row.site, row.unsubscribed_at = "coffee.test", utcnow()
        session.commit()
        ident = row.id
    with app.app_context():
        assert welcome_message(site, ident) is None
        assert welcome_message(site, 999_999) is None
