"""Mail caused by a public request leaves after the response (mail.outbox): how long the
request takes can't tell a new address from a known, confirmed or suppressed one.

The test client's unbuffered response is the WSGI response before the server has
called close(): status and body are complete, and nothing may have been decided,
built or handed to a transport yet. close() is what uWSGI calls after the last byte.
"""

import logging

import pytest
from sqlalchemy import event

from landingpad.storage import session_factory
from landingpad.storage.signups import record_signup
from landingpad.storage.suppression import suppress
from tests.unit.signup.test_double_optin import mails

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def queries(app):
    """Every SQL statement the app runs, lower-cased, in order."""
    engine = session_factory(app).kw["bind"]
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement.lower())

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def signup(client, token, host, email="alice@example.com"):
    return client.post("/signup", data={"email": email, "consent": "y", "token": token(host)},
                       headers={"Host": host})


def test_a_new_sign_up_is_answered_before_its_confirmation_is_sent(client, token, data_dir):
    response = signup(client, token, "bikes.test")  # double opt-in
    assert response.status_code == 303 and response.headers["Location"] == "/thanks"
    assert response.get_data() is not None  # the whole answer is there ...
    assert mails(data_dir) == []  # ... and no mail has been handed over yet
    response.close()
    [message] = mails(data_dir)
    assert message["To"] == "alice@example.com"


def test_whether_a_suppressed_address_is_mailed_is_decided_after_the_response(
        app, client, token, data_dir, queries):
    with session_factory(app)() as session:
        suppress(session, app.config["SECRET_KEY"], "alice@example.com", "unsubscribed")
        session.commit()
    signup(client, token, "coffee.test", "warm-up@example.com").close()  # consent text stored
    queries.clear()
    response = signup(client, token, "coffee.test")  # single opt-in: only if suppressed
    assert response.status_code == 303
    # Before the answer: the sign-up's one statement, which reads the suppression list
    # for every address alike, and its event's; no look-up of its own, no mail.
    [upsert, event] = queries
    assert upsert.startswith("insert into signups") and "suppressions" in upsert
    assert event.startswith("insert into events")
    assert mails(data_dir) == []
    response.close()
    [message] = mails(data_dir)
    assert message["Subject"] == "Please confirm your sign-up to Coffee Club"


def test_new_known_and_suppressed_addresses_run_the_same_queries_before_the_answer(
        app, client, token, queries):
    with session_factory(app)() as session:
        record_signup(session, site="coffee.test", email="known@example.com", interests=[],
                      consent_version="v", consent_text="t")
        suppress(session, app.config["SECRET_KEY"], "gone@example.com", "forgotten")
        session.commit()
    signup(client, token, "coffee.test", "warm-up@example.com").close()  # consent text stored
    shapes = []
    for email in ("new@example.com", "known@example.com", "gone@example.com"):
        queries.clear()
        response = signup(client, token, "coffee.test", email)
        shapes.append((response.status_code, response.headers["Location"], tuple(queries)))
        response.close()
    assert shapes[0] == shapes[1] == shapes[2]


def test_a_privacy_request_is_answered_before_its_link_is_sent(app, client, data_dir):
    with session_factory(app)() as session:
        record_signup(session, site="coffee.test", email="me@example.com", interests=[],
                      consent_version="v", consent_text="t")
    response = client.post("/privacy/request", data="email=me@example.com",
                           headers={"Host": "coffee.test", **FORM})
    assert response.status_code == 200 and b"email" in response.get_data()
    assert mails(data_dir) == []
    response.close()
    assert len(mails(data_dir)) == 1


def test_a_mail_that_fails_after_the_response_is_logged_not_raised(app, client, token,
                                                                    caplog):
    app.config.update(MAIL_TRANSPORT="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=9,
                      SMTP_TIMEOUT=2.0)  # nothing listens on the discard port
    caplog.set_level(logging.WARNING)
    response = signup(client, token, "bikes.test")
    assert response.status_code == 303
    response.close()  # must not raise into the server
    [line] = [r.getMessage() for r in caplog.records if "not sent" in r.getMessage()]
    assert "confirmation mail for bikes.test not sent (temporary" in line
    assert "alice" not in line  # never the address


def test_an_unexpected_failure_after_the_response_logs_where_but_not_the_address(app, caplog):
    from landingpad.mail.outbox import deliver

    def build():
        raise ValueError("cannot encode carol.secret@example.com")

    caplog.set_level(logging.WARNING)
    assert deliver(app, build, "confirmation mail") is False
    [record] = [r for r in caplog.records if "not sent" in r.getMessage()]
    text = record.getMessage() + (record.exc_text or "")
    assert "ValueError" in text and "test_mail_after_response.py" in text
    assert "carol" not in text and record.exc_info is None
