"""What a report says, read without a database: real Postfix DSNs, a prose bounce,
an ARF report."""

from __future__ import annotations

from landingpad.bounces.parse import DETECT_MAX_BYTES, parse_report
from tests.unit.bounces.conftest import HARD, SOFT, arf_report, envelope_sender

QMAIL = b"""\
From: MAILER-DAEMON@mx.remote.test
To: bounces+abc@bounce.example.test
Subject: failure notice

Hi. This is the qmail-send program at mx.remote.test.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<gone@remote.test>:
Sorry, no mailbox here by that name. (#5.1.1)
"""


def test_postfix_dsns_say_hard_for_5xx_and_soft_for_an_expired_4xx(dsns):
    hard = parse_report(dsns[HARD][0])
    assert [(f.address, f.kind, f.status) for f in hard.failures] == [(HARD, "hard", "5.1.1")]
    assert envelope_sender(HARD) in hard.addresses
    soft = parse_report(dsns[SOFT][0])  # Action: failed, but a 4.2.2: soft
    assert [(f.address, f.kind, f.status) for f in soft.failures] == [(SOFT, "soft", "4.2.2")]
    delayed = parse_report(dsns[SOFT][0].replace(b"Action: failed", b"Action: delayed"))
    assert [f.kind for f in delayed.failures] == ["delayed"]


def test_a_prose_bounce_is_read_by_flufl_bounce_and_an_arf_report_is_a_complaint():
    assert [(f.address, f.kind) for f in parse_report(QMAIL).failures] == [
        ("gone@remote.test", "hard")]
    verp = envelope_sender("", recipient_id=7)
    named = parse_report(arf_report(verp, "ann@remote.test"))
    assert named.complaint and verp in named.addresses
    assert [(f.address, f.kind) for f in named.failures] == [("ann@remote.test", "complaint")]
    redacted = parse_report(arf_report(verp, None))
    assert [f.kind for f in redacted.failures] == ["complaint"]
    assert parse_report(b"\x00garbage").failures == []


def test_large_prose_is_not_given_to_the_slow_detectors():
    # flufl's regular expressions take ~5 us a byte on crafted text: past the cap the
    # message is read as nothing (and kept aside as unmatched), never parsed for minutes.
    padding = b"> a@b\n" * (DETECT_MAX_BYTES // 6 + 1)
    big = QMAIL.replace(b"Hi. This", padding + b"\nHi. This")
    assert len(big) > DETECT_MAX_BYTES
    assert parse_report(big).failures == []
    assert parse_report(QMAIL).failures  # the same prose, small: read
