"""Non-ASCII addresses in an announcement (from the form, an import or an old row): sent with
SMTPUTF8 where the server offers it; otherwise that recipient fails alone and the rest go."""

import pytest
from sqlalchemy import select

from landingpad import create_app
from landingpad.announce import send_announcement
from landingpad.storage import session_factory
from landingpad.storage.models import Announcement, Recipient
from landingpad.storage.signups import record_signup
from landingpad.storage.types import utcnow
from tests.smtp_sink import Sink

ADDRESSES = ["a@example.com", "jörg@exämple.de", "用户@例子.广告", "joerg@exämple.de",
             "broken@exä..mple.de", "z@example.com"]


@pytest.fixture(params=[True, False], ids=["smtputf8", "no-smtputf8"])
def server(request, app_config):
    with Sink(smtputf8=request.param) as sink:
        app = create_app({**app_config, "MAIL_TRANSPORT": "smtp", "SMTP_HOST": "127.0.0.1",
                          "SMTP_PORT": sink.port, "SMTP_TIMEOUT": 5.0})
        yield app, sink, request.param
        app.extensions["landingpad.db"].dispose()


def test_an_announcement_never_sticks_on_one_recipient(server):
    app, sink, smtputf8 = server
    with session_factory(app)() as session:
        for address in ADDRESSES:  # stored as an import would, without the form's checks
            record_signup(session, site="coffee.test", email=address, interests=[],
                          consent_version="v", consent_text="t")
        item = Announcement(subject="Grüße", body_markdown="Hallo!", sites=["coffee.test"],
                            created_at=utcnow())
        session.add(item)
        session.commit()
        ident = item.id
    outcome = send_announcement(app, ident)
    with session_factory(app)() as session:
        rows = {r.email: r for r in session.scalars(select(Recipient))}
    received = sorted(rcpt for _, [rcpt] in sink.handler.envelopes)
    always = ["a@example.com", "joerg@xn--exmple-cua.de", "z@example.com"]
    if smtputf8:
        assert received == sorted([*always, "jörg@xn--exmple-cua.de",
                                   "用户@xn--fsqu00a.xn--4rr70v"])
    else:
        assert received == always
        for address in ("jörg@exämple.de", "用户@例子.广告"):
            assert rows[address].state == "failed"
            assert "SMTPUTF8" in rows[address].last_error
    assert rows["broken@exä..mple.de"].state == "failed"
    assert rows["broken@exä..mple.de"].last_error.startswith("message not built")
    assert {r.state for r in rows.values()} <= {"sent", "failed"}
    assert outcome["sent"] == len(received) and outcome["failed"] == len(ADDRESSES) - len(
        received)
