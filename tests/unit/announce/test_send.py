from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from landingpad.announce import Outcome, counts, send_announcement
from landingpad.announce.recipients import materialise
from landingpad.sites import get_registry
from landingpad.storage import session_factory
from landingpad.storage.models import Announcement, Recipient, RecipientState, SenderLease
from landingpad.storage.types import utcnow


def states(app, announcement_id):
    with session_factory(app)() as session:
        return {r.email: r.state for r in session.scalars(
            select(Recipient).where(Recipient.announcement_id == announcement_id))}


def test_messages_carry_the_headers_and_both_parts(smtp_app, sink, add_signup, announcement):
    add_signup("alice@example.com")
    outcome = send_announcement(smtp_app, announcement(body="Hi **all** <script>x()</script>"))
    assert outcome["sent"] == 1
    [message] = sink.handler.messages
    assert message["From"] == "Coffee Club <hello@coffee.test>"
    assert message["Reply-To"] == "owner@coffee.example.com"
    assert message["Subject"] == "We launched"
    with session_factory(smtp_app)() as session:
        key = session.scalar(select(Announcement.message_key))
    assert message["Message-ID"] == f"<announce-1-1.{key}@coffee.test>"
    assert message["List-Unsubscribe"].startswith("<https://coffee.test/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in message.walk()
             if not p.is_multipart()}
    assert set(parts) == {"text/plain", "text/html"}
    assert "<strong>all</strong>" in parts["text/html"] and "<script>" not in parts["text/html"]
    assert "Unsubscribe: https://coffee.test/unsubscribe/" in parts["text/plain"]


def test_one_message_per_address_and_only_who_should_get_it(smtp_app, sink, add_signup,
                                                             announcement):
    add_signup("both@example.com")
    add_signup("both@example.com", site="bikes.test", confirmed=True)
    add_signup("left@example.com", unsubscribed=True)
    add_signup("unconfirmed@example.com", site="bikes.test")  # bikes.test has double opt-in
    add_signup("confirmed@example.com", site="bikes.test", confirmed=True)
    send_announcement(smtp_app, announcement(sites=("coffee.test", "bikes.test")))
    recipients = sorted(str(m["To"]) for m in sink.handler.messages)
    assert recipients == ["both@example.com", "confirmed@example.com"]


def test_interest_filter(smtp_app, sink, add_signup, announcement):
    add_signup("beans@example.com", interests=["Beans"])
    add_signup("gear@example.com", interests=["Brewing gear"])
    send_announcement(smtp_app, announcement(interest="Brewing gear"))
    assert [str(m["To"]) for m in sink.handler.messages] == ["gear@example.com"]


@pytest.mark.parametrize(("interest", "other"), [
    ('Say "hello"', "Say hello"),
    ("C:\\beans", "C:beans"),
    ("100% arabica", "100 % arabica and more"),
    ("cold_brew", "cold-brew"),
])
def test_an_interest_with_quotes_backslashes_or_wildcards_reaches_exactly_its_signups(
        smtp_app, sink, add_signup, announcement, interest, other):
    """The announcement's filter and the admin's are one rule (Signup.interested_in): an
    interest is matched literally, whatever JSON or LIKE make of its characters."""
    add_signup("match@example.com", interests=["Beans", interest])
    add_signup("other@example.com", interests=[other])
    send_announcement(smtp_app, announcement(interest=interest))
    assert [str(m["To"]) for m in sink.handler.messages] == ["match@example.com"]


def test_a_4xx_is_retried_later(smtp_app, sink, add_signup, announcement):
    add_signup("slow@example.com")
    sink.handler.temporary["slow@example.com"] = 2
    ident = announcement()
    send_announcement(smtp_app, ident, retry_delay=0.05)
    assert states(smtp_app, ident) == {"slow@example.com": "sent"}
    with session_factory(smtp_app)() as session:
        assert session.scalar(select(Recipient.attempts)) == 3
    assert len(sink.handler.messages) == 1


def test_a_5xx_fails_that_recipient_with_the_reply(smtp_app, sink, add_signup, announcement):
    add_signup("gone@example.com")
    add_signup("ok@example.com")
    sink.handler.permanent.add("gone@example.com")
    ident = announcement()
    send_announcement(smtp_app, ident)
    assert states(smtp_app, ident) == {"gone@example.com": "failed", "ok@example.com": "sent"}
    with session_factory(smtp_app)() as session:
        error = session.scalar(select(Recipient.last_error).where(Recipient.state == "failed"))
    assert error.startswith("550") and "No such user" in error


def test_a_connection_dropped_after_data_is_unknown_never_resent(smtp_app, sink, add_signup,
                                                                 announcement):
    for name in ("a", "b", "c"):
        add_signup(f"{name}@example.com")
    sink.handler.drop_after_data.add("b@example.com")
    ident = announcement()
    send_announcement(smtp_app, ident)
    assert states(smtp_app, ident) == {"a@example.com": "sent", "b@example.com": "unknown",
                                       "c@example.com": "sent"}
    send_announcement(smtp_app, ident)  # a second run sends nothing again
    ids = sink.handler.ids()
    assert len(ids) == 3 and len(set(ids)) == 3


def test_unsubscribed_after_the_list_was_taken_gets_nothing(smtp_app, sink, add_signup,
                                                            announcement):
    import sqlalchemy as sa

    add_signup("late@example.com")
    ident = announcement()
    with smtp_app.app_context(), session_factory(smtp_app)() as session:
        materialise(session, session.get(Announcement, ident), get_registry(smtp_app))
        session.execute(sa.text("UPDATE signups SET unsubscribed_at = created_at"))
        session.commit()
    send_announcement(smtp_app, ident)
    assert sink.handler.messages == [] and states(smtp_app, ident) == {
        "late@example.com": "failed"}


def test_recipients_are_taken_once(smtp_app, sink, add_signup, announcement):
    add_signup("first@example.com")
    ident = announcement()
    send_announcement(smtp_app, ident)
    add_signup("later@example.com")
    send_announcement(smtp_app, ident)
    assert [str(m["To"]) for m in sink.handler.messages] == ["first@example.com"]


def test_rate_limit_paces_the_sending(smtp_app, sink, add_signup, announcement):
    import time

    for i in range(6):
        add_signup(f"r{i}@example.com")
    started = time.monotonic()
    send_announcement(smtp_app, announcement(), rate=10)
    assert time.monotonic() - started >= 0.45
    assert len(sink.handler.messages) == 6


def test_counts(smtp_app, sink, add_signup, announcement):
    add_signup("x@example.com")
    ident = announcement()
    send_announcement(smtp_app, ident)
    with session_factory(smtp_app)() as session:
        assert counts(session, ident) == {"pending": 0, "claimed": 0, "sending": 0, "sent": 1,
                                          "failed": 0, "unknown": 0}


def test_headers_cannot_be_injected(smtp_app):
    from landingpad.mail.message import build_message

    site = get_registry(smtp_app).site_for_host("coffee.test")
    with pytest.raises(ValueError):
        build_message(site, "a@example.com", "Hi\r\nBcc: evil@example.com", "t", "<p>t</p>",
                      "<x@coffee.test>")


@pytest.mark.parametrize(("lease_age", "taken_over"), [
    (None, False),             # a sender of an older release keeps no lease: leave it be
    (timedelta(seconds=30), False),  # alive on its host
    (timedelta(minutes=10), True),   # its lease went stale: that host's sender died
])
def test_a_dead_sender_on_another_host_is_known_by_its_lease(smtp_app, sink, add_signup,
                                                              announcement, lease_age,
                                                              taken_over):
    for email in ("a@example.com", "b@example.com", "c@example.com"):
        add_signup(email)
    ident = announcement()
    other = "another-node:4242:cafe0001"
    with smtp_app.app_context(), session_factory(smtp_app)() as session:
        materialise(session, session.get(Announcement, ident), get_registry(smtp_app))
        rows = session.scalars(select(Recipient).order_by(Recipient.email)).all()
        rows[0].state, rows[0].claimed_by = RecipientState.SENDING, other
        rows[1].state, rows[1].claimed_by = RecipientState.CLAIMED, other
        if lease_age is not None:
            session.add(SenderLease(identity=other, seen_at=utcnow() - lease_age))
        session.commit()
    send_announcement(smtp_app, ident)
    expected = ({"a@example.com": "unknown", "b@example.com": "sent", "c@example.com": "sent"}
                if taken_over else
                {"a@example.com": "sending", "b@example.com": "claimed", "c@example.com": "sent"})
    assert states(smtp_app, ident) == expected
    assert sorted(str(m["To"]) for m in sink.handler.messages) == (
        ["b@example.com", "c@example.com"] if taken_over else ["c@example.com"])
    with session_factory(smtp_app)() as session:  # a clean stop gives its own lease back
        assert [lease.identity for lease in session.scalars(select(SenderLease))] == (
            [] if taken_over or lease_age is None else [other])


def test_one_call_lists_the_recipients_once_and_says_what_is_left(smtp_app, sink, add_signup,
                                                                   announcement):
    for name in ("a", "b"):
        add_signup(f"{name}@example.com")
    ident = announcement()
    started, progress = [], []
    outcome = send_announcement(smtp_app, ident, on_start=lambda *a: started.append(a),
                                on_progress=progress.append)
    assert outcome == Counter({Outcome.SENT: 2}) and outcome["sent"] == 2
    assert started == [(2, 2)] and progress == ["sent", "sent"]
    again = send_announcement(smtp_app, ident, on_start=lambda *a: started.append(a))
    assert started[1] == (0, 0) and again == Counter()
    assert len(sink.handler.messages) == 2


def test_an_announcement_that_does_not_exist_is_a_lookup_error(smtp_app, sink):
    with pytest.raises(LookupError, match="no announcement 99"):
        send_announcement(smtp_app, 99)


def test_ctrl_c_mid_handover_leaves_that_row_unknown_and_gives_the_rest_back(
        smtp_app, sink, add_signup, announcement):
    from landingpad.mail.transports import make_transport

    for name in ("a", "b", "c", "d"):
        add_signup(f"{name}@example.com")
    ident = announcement()
    real = make_transport(smtp_app.config)

    class Interrupted:
        """The real transport, stopped by Ctrl-C while handing over the second message."""

        handed = 0

        def send_raw(self, *args, before_data=None, before_reply=None):
            self.handed += 1
            if self.handed == 2:
                before_data()  # its `sending` commit is on disk
                raise KeyboardInterrupt
            real.send_raw(*args, before_data=before_data, before_reply=before_reply)

        def close(self):
            real.close()

    with pytest.raises(KeyboardInterrupt):
        send_announcement(smtp_app, ident, transport=Interrupted())
    assert states(smtp_app, ident) == {"a@example.com": "sent", "b@example.com": "unknown",
                                       "c@example.com": "pending", "d@example.com": "pending"}
    with session_factory(smtp_app)() as session:
        assert session.scalars(select(SenderLease)).all() == []  # a clean stop
    assert send_announcement(smtp_app, ident) == Counter({Outcome.SENT: 2})
    assert sorted(str(m["To"]) for m in sink.handler.messages) == [
        "a@example.com", "c@example.com", "d@example.com"]
