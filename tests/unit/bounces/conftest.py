"""A real Dovecot (IMAPS) for the session, and real DSNs written once by a real Postfix.

The DSNs answer mail sent with the envelope senders landingpad makes for the test
secret (mail/verp.py, one per address: tokens of the ``m`` kind, which need no
database row), so any test's database can match them. Each test gets its own
IMAP user, so no test sees another's mail.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

import pytest

from landingpad import create_app
from landingpad.mail.verp import verp_sender
from tests.conftest import TEST_SECRET
from tests.mail_servers import start_dovecot, start_postfix

DOMAIN = "bounce.example.test"
HARD = "gone@remote.test"
SOFT = "full@remote.test"
REFUSALS = {HARD: "550 5.1.1 No such user here", SOFT: "452 4.2.2 Mailbox full"}


def envelope_sender(address: str, recipient_id: int | None = None) -> str:
    config = {"BOUNCE_DOMAIN": DOMAIN, "SECRET_KEY": TEST_SECRET}
    return verp_sender(config, "nobody@coffee.test", recipient_id=recipient_id,
                       email="" if recipient_id is not None else address)


def original(to: str, number: int) -> bytes:
    message = EmailMessage()
    message["From"] = "Coffee Club <noreply@coffee.test>"
    message["To"] = to
    message["Subject"] = "We launched"
    message["Message-ID"] = f"<sample-{number}@coffee.test>"
    message.set_content("Hello.")
    return message.as_bytes()


@pytest.fixture(scope="session")
def dovecot():
    server = start_dovecot()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postfix():
    server = start_postfix(DOMAIN, REFUSALS)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dsns(postfix) -> dict[str, list[bytes]]:
    """Real DSNs, once: one hard (550 5.1.1) for HARD, three soft (452 4.2.2) for SOFT."""
    sent = [HARD, SOFT, SOFT, SOFT]
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as smtp:
        for number, to in enumerate(sent):
            smtp.sendmail(envelope_sender(to), [to], original(to, number))
    return {to: postfix.wait_dsns(envelope_sender(to), sent.count(to)) for to in (HARD, SOFT)}


@pytest.fixture
def mailbox(dovecot):
    return dovecot.add_user()


@pytest.fixture
def bounce_config(app_config, mailbox, dovecot) -> dict:
    return {**app_config, "BOUNCE_DOMAIN": DOMAIN, "BOUNCE_IMAP_URL": mailbox.url(),
            "BOUNCE_CA_BUNDLE": str(dovecot.cert)}


@pytest.fixture
def bounce_app(bounce_config):
    app = create_app(bounce_config)
    yield app
    app.extensions["landingpad.db"].dispose()


@pytest.fixture
def bounces_cli(cli_env, mailbox, dovecot):
    """Run `landingpad bounces ...` in-process; ``env`` replaces settings for one call."""
    from click.testing import CliRunner

    from landingpad.cli import main

    def invoke(*args: str, **env: str):
        settings = {"LANDINGPAD_BOUNCE_DOMAIN": DOMAIN,
                    "LANDINGPAD_BOUNCE_IMAP_URL": mailbox.url(),
                    "LANDINGPAD_BOUNCE_CA_BUNDLE": str(dovecot.cert), **env}
        return CliRunner().invoke(main, ["bounces", *args], env={**cli_env, **settings},
                                  catch_exceptions=False, prog_name="landingpad")
    return invoke


def arf_report(verp: str, rcpt: str | None, number: int = 0) -> bytes:
    """An abuse report as a feedback loop sends it (RFC 5965, modelled on its Appendix
    B example): no MTA writes one, so it is built here. ``rcpt`` None: redacted."""
    rcpt_line = f"Original-Rcpt-To: {rcpt}\r\n" if rcpt else ""
    to_line = rcpt or "redacted@remote.test"
    return (
        "From: <abusedesk@remote.test>\r\n"
        "Date: Thu, 8 Mar 2026 14:00:00 EDT\r\n"
        f"Subject: FW: We launched ({number})\r\n"
        "To: <fbl@coffee.test>\r\n"
        f"Message-ID: <arf-{number}@remote.test>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=feedback-report;\r\n"
        '    boundary="part1_13d.2e68ed54_boundary"\r\n'
        "\r\n"
        "--part1_13d.2e68ed54_boundary\r\n"
        "Content-Type: text/plain; charset=\"US-ASCII\"\r\n"
        "Content-Transfer-Encoding: 7bit\r\n"
        "\r\n"
        "This is an email abuse report for an email message received from IP\r\n"
        "192.0.2.1 on Thu, 8 Mar 2026 14:00:00 EDT.\r\n"
        "\r\n"
        "--part1_13d.2e68ed54_boundary\r\n"
        "Content-Type: message/feedback-report\r\n"
        "\r\n"
        "Feedback-Type: abuse\r\n"
        "User-Agent: SomeGenerator/1.0\r\n"
        "Version: 1\r\n"
        f"Original-Mail-From: <{verp}>\r\n"
        f"{rcpt_line}"
        "Arrival-Date: Thu, 8 Mar 2026 14:00:00 EDT\r\n"
        "Source-IP: 192.0.2.1\r\n"
        "\r\n"
        "--part1_13d.2e68ed54_boundary\r\n"
        "Content-Type: message/rfc822\r\n"
        "Content-Disposition: inline\r\n"
        "\r\n"
        f"Return-Path: <{verp}>\r\n"
        "From: Coffee Club <noreply@coffee.test>\r\n"
        f"To: <{to_line}>\r\n"
        "Subject: We launched\r\n"
        "Message-ID: <announce-1-1@coffee.test>\r\n"
        "\r\n"
        "Hello.\r\n"
        "\r\n"
        "--part1_13d.2e68ed54_boundary--\r\n"
    ).encode()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path
