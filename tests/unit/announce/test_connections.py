"""Several SMTP connections side by side: one queue, one rate, each recipient once, and
one failure (or a stop) ends them all cleanly."""

from collections import Counter

import pytest
from sqlalchemy import select

from landingpad.announce import Outcome, send_announcement
from landingpad.settings import SettingsError, load
from landingpad.storage import session_factory
from landingpad.storage.models import Recipient, SenderLease


def states(app, ident):
    with session_factory(app)() as session:
        return Counter(session.scalars(
            select(Recipient.state).where(Recipient.announcement_id == ident)))


def test_each_connection_takes_its_own_recipients_and_nobody_gets_two(smtp_app, sink,
                                                                     add_signup, announcement):
    for i in range(24):
        add_signup(f"r{i:02d}@example.com")
    ident = announcement()
    sink.handler.delay = 0.1  # a server that takes its time: every connection gets work
    outcome = send_announcement(smtp_app, ident, connections=3, batch=2)
    assert outcome == Counter({Outcome.SENT: 24})
    received = [str(m["To"]) for m in sink.handler.messages]
    assert sorted(received) == [f"r{i:02d}@example.com" for i in range(24)]
    assert len(set(sink.handler.peers)) == 3  # three connections took messages
    assert len(set(sink.handler.quits)) == 3  # and each said goodbye
    assert states(smtp_app, ident) == Counter({"sent": 24})


def test_a_failing_connection_stops_the_others_and_their_claims_go_back(
        smtp_app, sink, add_signup, announcement, monkeypatch):
    from landingpad.mail.transports import SMTPTransport

    for i in range(30):
        add_signup(f"r{i:02d}@example.com")
    ident = announcement()
    sink.handler.delay = 0.02
    handing_over = SMTPTransport.send_raw

    def bug(self, sender, recipient, *args, **kwargs):
        if recipient == "r07@example.com":  # a bug mid-handover: the server may have it
            raise RuntimeError("a bug")
        return handing_over(self, sender, recipient, *args, **kwargs)

    monkeypatch.setattr(SMTPTransport, "send_raw", bug)
    with pytest.raises(RuntimeError, match="a bug"):
        send_announcement(smtp_app, ident, connections=3, batch=4)
    left = states(smtp_app, ident)
    # That row is unknown; the others stopped after the message each was handing over
    # and gave the rest of their claims back: nothing is left claimed or sending.
    assert left["unknown"] == 1 and left["pending"] >= 1
    assert set(left) == {"sent", "pending", "unknown"} and sum(left.values()) == 30
    with session_factory(smtp_app)() as session:
        assert session.scalars(select(SenderLease)).all() == []
    monkeypatch.undo()
    # Run again: the rest, once each; the unknown one is left for resend-unknown.
    assert send_announcement(smtp_app, ident, connections=3)[Outcome.SENT] == left["pending"]
    received = [str(m["To"]) for m in sink.handler.messages]
    assert sorted(received) == [f"r{i:02d}@example.com" for i in range(30) if i != 7]


@pytest.mark.parametrize("connections", [1, 4])
def test_connections_share_one_rate(smtp_app, sink, add_signup, announcement, connections):
    import time

    for i in range(6):
        add_signup(f"r{i}@example.com")
    started = time.monotonic()
    send_announcement(smtp_app, announcement(), rate=10, connections=connections, batch=1)
    # 10/s over all connections: the 6th message is 0.5 s after the first (a lower
    # bound: it holds however slow the machine is).
    assert time.monotonic() - started >= 0.45
    assert len(sink.handler.messages) == 6
    assert (len(set(sink.handler.peers)) > 1) == (connections > 1)  # all of them paced


@pytest.mark.parametrize("connections", [0, -1, 2])
def test_bad_connection_counts_are_refused_before_anything_is_listed(
        smtp_app, sink, add_signup, announcement, connections):
    from landingpad.mail.transports import make_transport

    add_signup("a@example.com")
    ident = announcement()
    transport = make_transport(smtp_app.config) if connections == 2 else None
    with pytest.raises(ValueError, match="connections"):
        send_announcement(smtp_app, ident, transport=transport, connections=connections)
    assert states(smtp_app, ident) == Counter()  # no recipient list taken
    assert sink.handler.messages == []


@pytest.mark.parametrize("value", ["0", "9", "four", "2.5", "-3"])
def test_the_setting_takes_1_to_8(value):
    with pytest.raises(SettingsError, match="LANDINGPAD_ANNOUNCE_CONNECTIONS"):
        load(environ={"LANDINGPAD_ANNOUNCE_CONNECTIONS": value})
    assert load(environ={})["ANNOUNCE_CONNECTIONS"] == 4
    assert load(environ={"LANDINGPAD_ANNOUNCE_CONNECTIONS": " 8\n"})["ANNOUNCE_CONNECTIONS"] == 8


def test_connections_a_relay_refuses_give_their_rows_back_and_the_others_send_them(
        smtp_app, sink, add_signup, announcement):
    for i in range(12):
        add_signup(f"r{i:02d}@example.com")
    ident = announcement()
    sink.handler.max_connections = 2  # Postfix's per-client connection limit, say
    sink.handler.delay = 0.05  # the first two are still busy when the others connect
    outcome = send_announcement(smtp_app, ident, connections=4, batch=2)
    assert outcome == Counter({Outcome.SENT: 12})
    assert sink.handler.turned_away == 2
    assert sorted(str(m["To"]) for m in sink.handler.messages) == [
        f"r{i:02d}@example.com" for i in range(12)]
    with session_factory(smtp_app)() as session:
        rows = session.execute(select(Recipient.state, Recipient.attempts).where(
            Recipient.announcement_id == ident)).all()
    # No attempt was spent on a refused connection.
    assert sorted(set(rows)) == [("sent", 1)]


def test_a_stop_cuts_a_paced_wait_short_and_sends_nothing_more(
        smtp_app, sink, add_signup, announcement, monkeypatch):
    import time

    from landingpad.mail.transports import SMTPTransport

    for i in range(6):
        add_signup(f"r{i}@example.com")
    ident = announcement()
    handing_over = SMTPTransport.send_raw

    def bug(self, sender, recipient, *args, **kwargs):
        raise RuntimeError("a bug")  # the first message, while the others wait their turn
        return handing_over(self, sender, recipient, *args, **kwargs)

    monkeypatch.setattr(SMTPTransport, "send_raw", bug)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="a bug"):
        # One message every 10 s over three connections: the others wait 10 and 20 s
        # for their first.
        send_announcement(smtp_app, ident, rate=0.1, connections=3, batch=1)
    # A hang guard, not a speed test: without the stop they would sleep out their slots.
    assert time.monotonic() - started < 8
    assert sink.handler.messages == []


def test_no_smtp_server_at_all_stops_the_run_with_every_row_still_to_send(
        app_config, add_announcement, monkeypatch):
    from landingpad import create_app
    from landingpad.announce import sender
    from landingpad.mail.transports import ConnectFailed
    from landingpad.storage.signups import record_signup
    from tests.servers import free_port

    monkeypatch.setattr(sender, "CONNECT_BACKOFF", 0.01)
    # A wrong port, or a server that is down: nothing listens there.
    app = create_app({**app_config, "MAIL_TRANSPORT": "smtp", "SMTP_HOST": "127.0.0.1",
                      "SMTP_PORT": free_port(), "SMTP_TIMEOUT": 5.0})
    try:
        with session_factory(app)() as session:
            for i in range(30):
                record_signup(session, site="coffee.test", email=f"r{i:02d}@example.com",
                              interests=[], consent_version="v", consent_text="t")
        ident = add_announcement(app, subject="Live", body_markdown="Hi", sites=["coffee.test"])
        for connections in (1, 3):
            with pytest.raises(ConnectFailed, match="cannot connect"):
                send_announcement(app, ident, connections=connections, batch=4)
            with session_factory(app)() as session:
                rows = session.execute(select(Recipient.state, Recipient.attempts).where(
                    Recipient.announcement_id == ident)).all()
                assert session.scalars(select(SenderLease)).all() == []
            # Nobody failed, nothing is left claimed: no attempt was spent on anyone.
            assert sorted(set(rows)) == [("pending", 0)] and len(rows) == 30
    finally:
        app.extensions["landingpad.db"].dispose()
