"""Mail that leaks nothing and says what it means (issue 16, items 4, 10 and 11).

- A public request's mail leaves after its response, through real nginx and uWSGI.
- Every HTML part of every mail escapes the site's settings.
- Every mail of a site is signed alike: by the key of its From domain.
- A title with commas, quotes, & or non-ASCII gives one From mailbox and a signed mail.
"""

from __future__ import annotations

import json
import re
import time
from email import policy
from email.parser import BytesParser
from urllib.parse import urlencode

import dkim
import pytest

from landingpad.announce import send_announcement as send
from landingpad.announce.compose import send_test_copy
from landingpad.storage import session_factory
from landingpad.storage.models import Announcement
from landingpad.storage.signups import record_signup
from landingpad.storage.types import utcnow
from tests.functional.conftest import start_stack
from tests.servers import request
from tests.smtp_sink import Sink
from tests.unit.mail.zone import resolver

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
HOSTILE_TITLE = 'Smith, Jones & Co <img src=x onerror=alert(1)> "Café" <a@evil.test>'


def parse(raw: bytes):
    return BytesParser(policy=policy.default).parsebytes(raw)


def sites_file(data_dir, **coffee: str) -> None:
    lines = [f"{k} = {json.dumps(v)}" for k, v in coffee.items()]  # a TOML basic string
    (data_dir / "sites.toml").write_text(
        '[sites."coffee.test"]\nLANDING_EMAIL = "owner@coffee.example.com"\n' + "\n".join(lines)
        + '\n\n[sites."bikes.test"]\nLANDING_DOUBLE_OPTIN = true\n')


@pytest.fixture
def sink():
    with Sink() as running:
        yield running


@pytest.fixture
def mail_app(app_sending_to, data_dir, sink):
    """make(**coffee_settings): the app on the SMTP sink, coffee.test set up as asked."""
    def make(**coffee: str):
        sites_file(data_dir, **coffee)
        return app_sending_to(sink.port)
    return make


def every_mail_kind(app, sink) -> dict[str, object]:
    """One confirmation, access link, announcement and test copy of coffee.test, parsed."""
    client = app.test_client()
    token = app.extensions["landingpad.tokens"].issue("coffee.test", now=time.time() - 5)
    with session_factory(app)() as session:
        record_signup(session, site="coffee.test", email="fan@example.com", interests=[],
                      consent_version="v", consent_text="t")
        item = Announcement(subject="Open", body_markdown="We are **open**.",
                            sites=["coffee.test"], created_at=utcnow())
        session.add(item)
        session.commit()
        ident = item.id
    kinds = {}
    # A re-confirmation: coffee.test is single opt-in, so suppress the address first.
    from landingpad.storage.suppression import suppress

    with session_factory(app)() as session:
        suppress(session, app.config["SECRET_KEY"], "again@example.com", "unsubscribed")
        session.commit()
    client.post("/signup", headers={"Host": "coffee.test"}, buffered=True,
                data={"email": "again@example.com", "consent": "y", "token": token})
    kinds["confirmation"] = sink.handler.raw[-1]
    client.post("/privacy/request", headers={"Host": "coffee.test", **FORM}, buffered=True,
                data="email=fan@example.com")
    kinds["access link"] = sink.handler.raw[-1]
    with app.app_context(), session_factory(app)() as session:
        send_test_copy(session.get(Announcement, ident), "owner@example.com")
    kinds["test copy"] = sink.handler.raw[-1]
    send(app, ident)
    kinds["announcement"] = sink.handler.raw[-1]
    assert len(set(kinds.values())) == 4
    return kinds


def test_every_html_part_of_every_mail_escapes_the_sites_settings(mail_app, sink):
    for kind, raw in every_mail_kind(mail_app(LANDING_TITLE=HOSTILE_TITLE), sink).items():
        message = parse(raw)
        html = message.get_body(("html",)).get_content()
        assert "<img src=x" not in html and "<a@evil.test>" not in html, kind
        assert "&lt;img src=x onerror=alert(1)&gt;" in html, kind
        [sender] = message["From"].addresses
        assert sender.display_name == HOSTILE_TITLE and sender.addr_spec == \
            "hello@coffee.test", kind


def test_every_mail_of_a_site_is_signed_with_the_key_of_its_from_domain(mail_app, sink,
                                                                        runner):
    records = {d: runner("dkim", "generate", d).output.splitlines()[-1]
               for d in ("coffee.test", "mail.example.com")}
    app = mail_app(LANDING_TITLE="Smith, Jones & Co", LANDING_FROM="news@mail.example.com")
    for kind, raw in every_mail_kind(app, sink).items():
        message = parse(raw)
        [sender] = message["From"].addresses
        assert sender.addr_spec == "news@mail.example.com", kind
        signature = re.sub(r"\s+", "", str(message["DKIM-Signature"]))
        assert "d=mail.example.com;" in signature, kind
        assert dkim.verify(raw, dnsfunc=resolver(records["mail.example.com"])), kind
    # The envelope sender is the From address for every one of them.
    assert {sender for sender, _ in sink.handler.envelopes} == {"news@mail.example.com"}


# -- through the real stack -----------------------------------------------------------

@pytest.fixture
def slow_sink():
    with Sink() as running:
        running.handler.delay = 3.0  # the server takes 3 s to answer DATA
        yield running


@pytest.fixture
def mail_stack(cli_env, data_dir, slow_sink):
    env = {**cli_env, "LANDINGPAD_MIN_FILL_SECONDS": "0", "LANDINGPAD_MAIL_TRANSPORT": "smtp",
           "LANDINGPAD_SMTP_HOST": "127.0.0.1", "LANDINGPAD_SMTP_PORT": str(slow_sink.port),
           "LANDINGPAD_SMTP_TIMEOUT": "20"}
    running = start_stack(data_dir, env)
    yield running
    running.stop()


def form_token(stack, host: str) -> str:
    _, _, page = request(stack.port, "GET", "/", host)
    return page.split(b'name="token" value="')[1].split(b'"')[0].decode()


@pytest.mark.functional
def test_through_nginx_the_answer_comes_before_a_slow_server_takes_the_mail(
        mail_stack, slow_sink):
    # A double opt-in sign-up (a confirmation is due) and a privacy request by a known
    # address (a link is due): each is answered at once, and its mail arrives afterwards.
    # (One at a time: a worker busy handing over a mail takes no request meanwhile.)
    token = form_token(mail_stack, "bikes.test")
    for number, (path, body) in enumerate([
        ("/signup", {"email": "new@example.com", "consent": "y", "token": token}),
        ("/privacy/request", {"email": "new@example.com"}),
    ], start=1):
        started = time.monotonic()
        status, _, page = request(mail_stack.port, "POST", path, "bikes.test",
                                  urlencode(body), FORM)
        answered = time.monotonic()
        assert status == (303 if path == "/signup" else 200) and page, path
        assert answered - started < 2.5, path  # generous; the mail alone takes 3 s
        deadline = time.monotonic() + 20
        while len(slow_sink.handler.times) < number and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(slow_sink.handler.times) == number, f"the mail of {path} arrives"
        assert slow_sink.handler.times[-1] > answered, path  # taken after the answer


@pytest.fixture
def served_with_slow_mail(cli_env, slow_sink):
    from tests.servers import landingpad_serve

    env = {**cli_env, "LANDINGPAD_MIN_FILL_SECONDS": "0",
           "LANDINGPAD_MAIL_TRANSPORT": "smtp", "LANDINGPAD_SMTP_HOST": "127.0.0.1",
           "LANDINGPAD_SMTP_PORT": str(slow_sink.port), "LANDINGPAD_SMTP_TIMEOUT": "20"}
    # One worker: the next request can only be answered by the worker that owes the mail.
    with landingpad_serve(env, processes=1, host="bikes.test") as (port, _):
        yield port


@pytest.mark.functional
def test_through_serve_the_next_request_on_the_connection_is_not_held_by_the_mail(
        served_with_slow_mail, slow_sink):
    # uWSGI's HTTP router reads the next request of a kept-alive connection only once
    # the worker's close() returns: were the mail sent there, a privacy request
    # followed by GET / would say whether the address is known (slow) or not (fast).
    import http.client

    port = served_with_slow_mail
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/", headers={"Host": "bikes.test"})
    page = conn.getresponse().read()
    token = page.split(b'name="token" value="')[1].split(b'"')[0].decode()
    body = urlencode({"email": "known@example.com", "consent": "y", "token": token})
    conn.request("POST", "/signup", body, {"Host": "bikes.test", **FORM})
    assert conn.getresponse().read() is not None
    deadline = time.monotonic() + 20  # bikes.test is double opt-in: a confirmation is due
    while not slow_sink.handler.times and time.monotonic() < deadline:
        time.sleep(0.05)
    assert slow_sink.handler.times, "the confirmation arrives"
    slow_sink.handler.times.clear()
    conn.request("POST", "/privacy/request", urlencode({"email": "known@example.com"}),
                 {"Host": "bikes.test", **FORM})
    response = conn.getresponse()
    assert response.status == 200 and response.read()
    conn.request("GET", "/", headers={"Host": "bikes.test"})
    assert conn.getresponse().status == 200
    answered = time.monotonic()
    while not slow_sink.handler.times and time.monotonic() < deadline + 20:
        time.sleep(0.05)
    conn.close()
    assert slow_sink.handler.times, "the access link arrives"
    # The SMTP server took the link's mail (3 s after DATA began) after GET / was answered.
    assert answered < slow_sink.handler.times[0]
