"""DKIM: one signing rule for every mail, a TXT record DNS software accepts, one warning."""

import base64
import logging

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest
from cryptography.hazmat.primitives import serialization

from landingpad.mail import dkim as lp_dkim
from landingpad.mail.dkim import Signer, generate, txt_record
from tests.unit.mail.zone import resolver


def public_value(folder, domain: str) -> str:
    key = serialization.load_pem_private_key(
        lp_dkim.key_path(folder, domain).read_bytes(), password=None)
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def test_the_txt_record_is_a_zone_file_line_with_strings_of_at_most_255(tmp_path):
    record = generate(tmp_path, "coffee.test")
    assert record == txt_record(lp_dkim.key_path(tmp_path, "coffee.test"), "coffee.test")
    # As a BIND zone file holds it (with the usual SOA/NS around it) ...
    zone = dns.zone.from_text("$TTL 300\n@ IN SOA ns hostmaster 1 7200 900 1209600 300\n"
                              f"@ IN NS ns\nns IN A 192.0.2.1\n{record}\n",
                              origin="coffee.test.")
    rdataset = zone.find_rdataset("landingpad._domainkey", "TXT")
    [rdata] = list(rdataset)
    assert len(rdata.strings) >= 2 and all(len(s) <= 255 for s in rdata.strings)
    assert b"".join(rdata.strings).decode() == public_value(tmp_path, "coffee.test")
    # ... and as one record's text.
    text = record.split(" IN TXT ", 1)[1]
    parsed = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, text)
    assert b"".join(parsed.strings).decode() == public_value(tmp_path, "coffee.test")


def test_dkim_show_prints_the_same_parsable_record(runner, data_dir):
    made = runner("dkim", "generate", "coffee.test").output.splitlines()[-1]
    shown = runner("dkim", "show", "coffee.test").output.strip()
    assert shown == made
    assert resolver(shown)(b"landingpad._domainkey.coffee.test.") == \
        public_value(data_dir / "dkim", "coffee.test").encode()


def test_the_signing_domain_is_the_from_domain_in_ascii():
    from landingpad.mail.dkim import signing_domain

    assert signing_domain("hello@coffee.test") == "coffee.test"
    assert signing_domain("News@Mail.Coffee.TEST") == "mail.coffee.test"
    assert signing_domain("hello@exämple.de") == "xn--exmple-cua.de"


@pytest.fixture
def fresh_warnings():
    lp_dkim._unsigned_warned.clear()
    yield
    lp_dkim._unsigned_warned.clear()


def test_a_domain_without_a_key_is_warned_about_once_per_process(tmp_path, caplog,
                                                                 fresh_warnings):
    caplog.set_level(logging.WARNING, logger="landingpad.mail.dkim")
    for _ in range(3):  # a Signer per transport, a transport per mail: still one warning
        Signer(tmp_path).sign(b"Subject: x\r\n\r\nbody\r\n", "nokey.test")
    Signer(tmp_path).sign(b"Subject: x\r\n\r\nbody\r\n", "other.test")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "nokey.test" in warnings[0] and "other.test" in warnings[1]
    generate(tmp_path, "signed.test")
    Signer(tmp_path).sign(b"From: a@signed.test\r\nSubject: x\r\n\r\nbody\r\n", "signed.test")
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2
