"""Headers are built by the email package from their parts: a title is one display name."""

import email
import re
from email import policy

import pytest

from landingpad.mail.dkim import Signer, generate
from landingpad.mail.message import build_message
from landingpad.mail.transports import SMTPTransport
from landingpad.sites.site import build_site
from tests.smtp_sink import Sink
from tests.unit.mail.zone import resolver

TITLES = [
    "Smith, Jones & Co",
    'The "Quoted" Shop',
    "A <b>bold</b> <evil@attacker.test>",
    "first@example.com, second@example.com",
    "Semi;colon: (comment) [x] \\ back",
    "Café Ünïcode — 東京 & Co, Ltd.",
]


def site(title: str, **more: str):
    return build_site("coffee.test", [{"LANDING_TITLE": title, **more}])


def parse(data: bytes):
    # From text: BytesParser would keep raw UTF-8 headers (RFC 6532) as escaped bytes.
    return email.message_from_string(data.decode("utf-8"), policy=policy.default)


@pytest.mark.parametrize("title", TITLES)
def test_any_title_gives_exactly_one_from_mailbox_named_by_it(title):
    message = build_message(site(title), "a@example.com", "Hi", "t", "<p>h</p>",
                            "<id@coffee.test>")
    [sender] = parse(message.as_bytes())["From"].addresses
    assert sender.display_name == title
    assert sender.addr_spec == "hello@coffee.test"
    [to] = parse(message.as_bytes())["To"].addresses
    assert to.addr_spec == "a@example.com"


@pytest.mark.parametrize("title", TITLES)
def test_any_title_is_signed_and_sent_from_the_sites_address(title, tmp_path):
    record = generate(tmp_path, "coffee.test")
    message = build_message(site(title), "a@example.com", "Hi", "t", "<p>h</p>",
                            "<id@coffee.test>")
    with Sink() as sink:
        transport = SMTPTransport("127.0.0.1", sink.port, timeout=5, signer=Signer(tmp_path))
        transport.send(message)
        transport.close()
    [raw] = sink.handler.raw
    import dkim

    assert dkim.verify(raw, dnsfunc=resolver(record))
    assert re.search(rb"\bd=coffee\.test;", raw.replace(b"\r\n", b""))
    assert sink.handler.envelopes == [("hello@coffee.test", ["a@example.com"])]


def test_reply_to_and_a_custom_sender_are_single_mailboxes_too():
    message = build_message(site("Smith, Jones & Co", LANDING_FROM="news@mail.coffee.test",
                                 LANDING_EMAIL="owner@coffee.test"),
                            "a@example.com", "Hi", "t", "<p>h</p>", "<id@coffee.test>")
    parsed = parse(message.as_bytes())
    assert [a.addr_spec for a in parsed["From"].addresses] == ["news@mail.coffee.test"]
    assert [a.addr_spec for a in parsed["Reply-To"].addresses] == ["owner@coffee.test"]


def test_an_idn_domain_travels_in_ascii_and_needs_nothing_special():
    from landingpad.mail.message import envelope_address, needs_smtputf8

    assert envelope_address("joerg@exämple.de") == "joerg@xn--exmple-cua.de"
    assert not needs_smtputf8("joerg@exämple.de")
    message = build_message(site("T"), "joerg@exämple.de", "Hi", "t", "<p>h</p>",
                            "<id@coffee.test>")
    assert message.as_bytes().isascii()
    assert b"To: joerg@xn--exmple-cua.de\r\n" in message.as_bytes()


@pytest.mark.parametrize("address", ["jörg@exämple.de", "用户@例子.广告"])
def test_a_non_ascii_local_part_makes_a_utf8_message_for_smtputf8(address):
    from landingpad.mail.message import envelope_address, needs_smtputf8

    assert needs_smtputf8(address)
    message = build_message(site("Café"), address, "Hi", "t", "<p>h</p>", "<id@coffee.test>")
    data = message.as_bytes()
    assert f"To: {envelope_address(address)}\r\n".encode() in data  # raw UTF-8, RFC 6532
    [to] = parse(data)["To"].addresses
    assert to.addr_spec == envelope_address(address)
    assert "Café" in str(parse(data)["From"])


@pytest.mark.parametrize("added", [
    b"Reply-To: Support <phish@attacker.test>\r\n",  # a confirmation mail has none
    b"From: Coffee <hello@coffee.test>\r\n",          # a second From on top
    b"Subject: Urgent: verify your account\r\n",
    b"List-Unsubscribe: <https://attacker.test/u>\r\n",
])
def test_a_header_added_after_signing_breaks_the_signature(added, tmp_path):
    # Someone who signs up their own address gets a signed mail from the site; adding
    # a header to it and sending it on must not keep the site's DKIM pass.
    import dkim

    record = generate(tmp_path, "coffee.test")
    message = build_message(site("Coffee"), "me@example.com", "Please confirm", "t",
                            "<p>h</p>", "<id@coffee.test>")
    raw = Signer(tmp_path)(message)
    assert dkim.verify(raw, dnsfunc=resolver(record))
    signature_end = raw.index(b"\r\n", raw.index(b"b=")) + 2
    while raw[signature_end:signature_end + 1] in (b" ", b"\t"):  # folded lines
        signature_end = raw.index(b"\r\n", signature_end) + 2
    tampered = raw[:signature_end] + added + raw[signature_end:]
    assert not dkim.verify(tampered, dnsfunc=resolver(record))
