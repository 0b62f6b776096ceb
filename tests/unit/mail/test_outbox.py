"""The one outbox: every mail is built, signed and sent there, through a transport that
lives as long as the app (one SMTP connection, replaced when the server dropped it).

Against the real SMTP sink on loopback; the sink notes each mail's client address, so
one connection shows as one peer.
"""

import logging
import time
import uuid

import dkim
import pytest

from landingpad.mail.dkim import generate
from landingpad.mail.message import build_message
from landingpad.mail.outbox import deliver, get_outbox
from landingpad.mail.transports import DeliveryError, FailureKind
from landingpad.sites import get_registry
from landingpad.storage import session_factory
from landingpad.storage.signups import record_signup
from tests.smtp_sink import Sink
from tests.unit.mail.zone import resolver

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def mail_to(app, to: str, host: str = "coffee.test"):
    """A build function: one small message of ``host`` to ``to``."""
    def build():
        site = get_registry(app).site_for_host(host)
        return build_message(site, to, "Hello", "text", "<p>html</p>",
                             f"<{uuid.uuid4().hex}@{site.domain}>")
    return build


@pytest.fixture
def app_on(app_sending_to):
    """app_on(sink): the app sending through that sink."""
    return lambda sink: app_sending_to(sink.port)


@pytest.fixture
def impatient_sink():
    with Sink(idle_timeout=0.3) as running:  # hangs up on a client idle for 0.3 s
        yield running


def test_one_connection_carries_several_mails(smtp_app, sink):
    for n in range(3):
        assert deliver(smtp_app, mail_to(smtp_app, f"fan{n}@example.com"), "test mail")
    assert [rcpt for _, [rcpt] in sink.handler.envelopes] == \
        ["fan0@example.com", "fan1@example.com", "fan2@example.com"]
    assert len(set(sink.handler.peers)) == 1
    get_outbox(smtp_app).close()


def test_mail_handed_over_by_requests_shares_the_apps_connection(smtp_app, sink):
    with session_factory(smtp_app)() as session:
        for who in ("ann", "bob"):
            record_signup(session, site="coffee.test", email=f"{who}@example.com",
                          interests=[], consent_version="v", consent_text="t")
    client = smtp_app.test_client()
    for sent, who in enumerate(("ann", "bob")):
        response = client.post("/privacy/request", data=f"email={who}@example.com",
                               headers={"Host": "coffee.test", **FORM})
        assert response.status_code == 200
        assert len(sink.handler.envelopes) == sent  # nothing before the response is done
        response.close()  # now the link is sent
    assert [rcpt for _, [rcpt] in sink.handler.envelopes] == \
        ["ann@example.com", "bob@example.com"]
    assert len(set(sink.handler.peers)) == 1
    get_outbox(smtp_app).close()


def test_a_connection_the_server_dropped_is_replaced_before_the_next_mail(
        app_on, impatient_sink, caplog):
    app = app_on(impatient_sink)
    caplog.set_level(logging.WARNING)
    assert deliver(app, mail_to(app, "first@example.com"), "test mail")
    time.sleep(0.8)  # the server has hung up on the idle connection by now
    assert deliver(app, mail_to(app, "second@example.com"), "test mail")
    assert [rcpt for _, [rcpt] in impatient_sink.handler.envelopes] == \
        ["first@example.com", "second@example.com"]
    first, second = impatient_sink.handler.peers
    assert first != second  # a new connection
    assert not [r for r in caplog.records if "not sent" in r.getMessage()]


def test_a_connection_lost_mid_mail_is_logged_unknown_and_the_next_mail_reconnects(
        smtp_app, sink, caplog):
    caplog.set_level(logging.WARNING)
    sink.handler.drop_after_data.add("dropped@example.com")
    assert not deliver(smtp_app, mail_to(smtp_app, "dropped@example.com"), "test mail")
    assert deliver(smtp_app, mail_to(smtp_app, "next@example.com"), "test mail")
    [line] = [r.getMessage() for r in caplog.records if "not sent" in r.getMessage()]
    assert "test mail for coffee.test not sent (unknown, reply none)" in line
    first, second = sink.handler.peers
    assert first != second
    get_outbox(smtp_app).close()


def test_mail_is_signed_by_its_from_domains_key_and_unsigned_without_one(
        smtp_app, sink, data_dir):
    record = generate(data_dir / "dkim", "coffee.test")
    assert deliver(smtp_app, mail_to(smtp_app, "a@example.com", "coffee.test"))
    assert deliver(smtp_app, mail_to(smtp_app, "b@example.com", "bikes.test"))
    signed, unsigned = sink.handler.raw
    assert dkim.verify(signed, dnsfunc=resolver(record))
    assert b"d=coffee.test;" in signed.replace(b"\r\n", b"").replace(b" ", b"")
    assert b"DKIM-Signature" not in unsigned
    # A key made while the app runs signs the next mail (no restart).
    record = generate(data_dir / "dkim", "bikes.test")
    assert deliver(smtp_app, mail_to(smtp_app, "c@example.com", "bikes.test"))
    assert dkim.verify(sink.handler.raw[-1], dnsfunc=resolver(record))
    get_outbox(smtp_app).close()


def test_a_batch_transport_signs_by_the_same_rule_and_is_closed_after(
        smtp_app, sink, data_dir):
    record = generate(data_dir / "dkim", "coffee.test")
    outbox = get_outbox(smtp_app)
    with smtp_app.app_context(), outbox.batch() as transport:
        for n in range(2):
            transport.send(mail_to(smtp_app, f"fan{n}@example.com")())
    assert all(dkim.verify(raw, dnsfunc=resolver(record)) for raw in sink.handler.raw)
    assert len(set(sink.handler.peers)) == 1
    assert transport._smtp is None  # closed at the end of the batch


def test_a_build_that_returns_none_sends_nothing(smtp_app, sink):
    assert deliver(smtp_app, lambda: None, "test mail") is False
    assert sink.handler.envelopes == []
    assert get_outbox(smtp_app)._transport is None  # not even a connection


@pytest.mark.parametrize(("refusal", "kind", "code"), [
    ("permanent", FailureKind.PERMANENT, "550"), ("temporary", FailureKind.TEMPORARY, "451")])
def test_an_smtp_refusal_is_logged_with_its_kind_but_never_the_address(
        smtp_app, sink, caplog, refusal, kind, code):
    secret = "carol.secret@example.com"
    if refusal == "permanent":
        sink.handler.permanent.add(secret)
    else:
        sink.handler.temporary[secret] = 1
    caplog.set_level(logging.DEBUG)
    assert deliver(smtp_app, mail_to(smtp_app, secret), "confirmation mail") is False
    [line] = [r.getMessage() for r in caplog.records if "not sent" in r.getMessage()]
    assert line == f"confirmation mail for coffee.test not sent ({kind}, reply {code})"
    ours = [r for r in caplog.records if r.name.startswith("landingpad")]  # not the sink's
    assert ours and not [r for r in ours if "carol" in r.getMessage()]
    # Called directly, the outbox raises it (an owner's test copy shows it).
    with smtp_app.app_context(), pytest.raises(DeliveryError) as refused:
        sink.handler.temporary[secret] = 1 if refusal == "temporary" else 0
        get_outbox(smtp_app).send(mail_to(smtp_app, secret)())
    assert refused.value.kind is kind and refused.value.kind == refusal
    get_outbox(smtp_app).close()


def test_the_failure_kind_is_one_enum_that_still_reads_as_its_word():
    error = DeliveryError("unknown", "connection lost")
    assert error.kind is FailureKind.UNKNOWN and error.kind == "unknown"
    assert str(error) == "unknown: connection lost"
    with pytest.raises(ValueError):
        DeliveryError("maybe", "no such kind")


def test_a_worker_exiting_sends_what_is_queued_then_says_goodbye(app_on, sink):
    """uWSGI calls the drain at a worker's exit: the queued mail goes, then QUIT."""
    from landingpad.mail.outbox import _Background

    app = app_on(sink)
    background = _Background()
    background.put((app, mail_to(app, "queued@example.com"), "test mail"))
    background.drain()
    assert [rcpt for _, [rcpt] in sink.handler.envelopes] == ["queued@example.com"]
    assert sink.handler.quits == sink.handler.peers  # the same connection, closed politely
