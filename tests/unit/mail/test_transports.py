"""SMTP with non-ASCII addresses: SMTPUTF8 where the server offers it, a clean refusal where not."""

import dkim
import pytest

from landingpad.mail.dkim import Signer, generate
from landingpad.mail.message import build_message
from landingpad.mail.transports import DeliveryError, SMTPTransport
from landingpad.sites.site import build_site
from tests.smtp_sink import Sink
from tests.unit.mail.zone import resolver

SITE = build_site("coffee.test", [{"LANDING_TITLE": "Café, Co"}])
NON_ASCII = ["jörg@exämple.de", "用户@例子.广告"]


def message(to: str):
    return build_message(SITE, to, "Grüße", "text", "<p>html</p>", "<id@coffee.test>")


@pytest.mark.parametrize("address", NON_ASCII)
def test_a_non_ascii_address_goes_out_with_smtputf8_when_offered_and_signed(address,
                                                                            tmp_path):
    record = generate(tmp_path, "coffee.test")
    with Sink(smtputf8=True) as sink:
        transport = SMTPTransport("127.0.0.1", sink.port, timeout=5, signer=Signer(tmp_path))
        transport.send(message(address))
        transport.close()
    [(sender, [rcpt])] = sink.handler.envelopes
    local = address.split("@")[0]
    assert sender == "hello@coffee.test"
    assert rcpt.split("@")[0] == local and rcpt.split("@")[1].startswith("xn--")
    [raw] = sink.handler.raw
    assert f"To: {rcpt}".encode() in raw
    assert dkim.verify(raw, dnsfunc=resolver(record))


@pytest.mark.parametrize("address", NON_ASCII)
def test_without_smtputf8_that_one_message_is_refused_for_good_and_the_next_goes(address):
    with Sink() as sink:
        transport = SMTPTransport("127.0.0.1", sink.port, timeout=5)
        with pytest.raises(DeliveryError) as refused:
            transport.send(message(address))
        assert refused.value.kind == "permanent" and "SMTPUTF8" in refused.value.reply
        transport.send(message("plain@example.com"))  # the same connection goes on
        transport.close()
    assert sink.handler.envelopes == [("hello@coffee.test", ["plain@example.com"])]


def test_an_idn_domain_alone_needs_no_smtputf8():
    with Sink() as sink:
        transport = SMTPTransport("127.0.0.1", sink.port, timeout=5)
        transport.send(message("joerg@exämple.de"))
        transport.close()
    assert sink.handler.envelopes == [("hello@coffee.test", ["joerg@xn--exmple-cua.de"])]
