"""The SMTP envelope pipelined (RFC 2920) where the server offers it: MAIL, RCPT and DATA
in one write; the same outcomes as one command at a time, refusals included."""

import pytest

from landingpad.mail.transports import DeliveryError, SMTPTransport
from tests.smtp_sink import Sink

DATA = (b"From: hello@coffee.test\r\nTo: {rcpt}\r\nMessage-ID: <{n}@coffee.test>\r\n\r\n"
        b"Hi\r\n.dot\r\n")


def raw(rcpt: str, n: int) -> bytes:
    return DATA.replace(b"{rcpt}", rcpt.encode()).replace(b"{n}", str(n).encode())


class Writes:
    """What the client writes on its connection, one entry per write."""

    def __init__(self, transport: SMTPTransport) -> None:
        self.smtp = transport._connection()
        self.sent: list[bytes] = []
        real = self.smtp.send

        def send(data):
            self.sent.append(data if isinstance(data, bytes) else data.encode())
            return real(data)

        self.smtp.send = send


@pytest.mark.parametrize("pipelining", [True, False])
def test_the_same_message_arrives_with_and_without_pipelining(pipelining):
    with Sink(pipelining=pipelining) as sink:
        transport = SMTPTransport("127.0.0.1", sink.port, timeout=5)
        writes = Writes(transport)
        transport.send_raw("hello@coffee.test", "a@example.com", raw("a@example.com", 1),
                           "<1@coffee.test>")
        transport.send_raw("hello@coffee.test", "b@example.com", raw("b@example.com", 2),
                           "<2@coffee.test>", before_data=lambda: None)
        transport.close()
    assert sink.handler.envelopes == [("hello@coffee.test", ["a@example.com"]),
                                      ("hello@coffee.test", ["b@example.com"])]
    assert sink.handler.raw == [raw("a@example.com", 1), raw("b@example.com", 2)]
    envelopes = [w for w in writes.sent if w.lower().startswith(b"mail from")]
    if pipelining:  # the three commands in one write, twice
        assert envelopes == [b"mail FROM:<hello@coffee.test> size=%d\r\nrcpt TO:<%s>\r\ndata\r\n"
                             % (len(raw(r, 1)), r.encode())
                             for r in ("a@example.com", "b@example.com")]
    else:
        assert len(envelopes) == 2 and all(w.count(b"\r\n") == 1 for w in envelopes)


@pytest.mark.parametrize("reply, kind", [("550 5.1.1 No such user here", "permanent"),
                                         ("450 4.2.1 Mailbox busy, try later", "temporary")])
def test_a_refused_recipient_in_a_pipelined_envelope_is_that_message_only(reply, kind):
    with Sink(pipelining=True) as sink:
        sink.handler.refuse_rcpt["gone@example.com"] = reply
        transport = SMTPTransport("127.0.0.1", sink.port, timeout=5)
        sent = []
        with pytest.raises(DeliveryError) as refused:
            transport.send_raw("hello@coffee.test", "gone@example.com",
                               raw("gone@example.com", 1), "<1@coffee.test>",
                               before_data=lambda: sent.append("body"))
        assert refused.value.kind == kind and refused.value.reply == reply
        assert sent == []  # the message itself never started
        # The connection goes on with the next message.
        transport.send_raw("hello@coffee.test", "here@example.com", raw("here@example.com", 2),
                           "<2@coffee.test>", before_data=lambda: None)
        transport.close()
    assert sink.handler.envelopes == [("hello@coffee.test", ["here@example.com"])]


def test_a_non_ascii_address_is_pipelined_with_smtputf8():
    address = "jörg@exämple.de"
    with Sink(smtputf8=True, pipelining=True) as sink:
        transport = SMTPTransport("127.0.0.1", sink.port, timeout=5)
        transport.send_raw("hello@coffee.test", address, raw(address, 1), "<1@coffee.test>",
                           before_data=lambda: None)
        transport.close()
    assert sink.handler.envelopes == [("hello@coffee.test", [address])]


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_421_and_a_hang_up_before_the_message_is_temporary_and_the_next_goes(pipelining):
    with Sink(pipelining=pipelining) as sink:
        sink.handler.busy = 1
        transport = SMTPTransport("127.0.0.1", sink.port, timeout=5)
        with pytest.raises(DeliveryError) as refused:
            transport.send_raw("hello@coffee.test", "a@example.com", raw("a@example.com", 1),
                               "<1@coffee.test>", before_data=lambda: None)
        # Not a byte of the message went: safe to send again (never "unknown").
        assert refused.value.kind == "temporary" and refused.value.reply.startswith("421")
        transport.send_raw("hello@coffee.test", "a@example.com", raw("a@example.com", 1),
                           "<1@coffee.test>")  # a new connection
        transport.close()
    assert sink.handler.envelopes == [("hello@coffee.test", ["a@example.com"])]
