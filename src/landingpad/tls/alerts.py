"""The one mail the certificate worker sends: renewal keeps failing and expiry is near."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from flask import Flask

from landingpad.mail.message import POLICY, mailbox
from landingpad.mail.outbox import deliver
from landingpad.sites import get_registry
from landingpad.storage.models import Certificate
from landingpad.storage.types import utcnow


def owner_address(app: Flask, host: str) -> str:
    """The site's own contact address, else the ACME account's (LANDINGPAD_ACME_EMAIL)."""
    registry = get_registry(app)
    site = registry.site_for_host(host)
    return (site.email if site is not None and site.email else "") \
        or app.config["ACME_EMAIL"]


def send_expiry_alert(app: Flask, row: Certificate) -> bool:
    """True if a transport took the alert (False: nobody to tell, or it failed: logged)."""
    to = owner_address(app, row.host)
    if not to:
        return False
    days = max((row.not_after - utcnow()).days, 0) if row.not_after else 0
    text = (
        f"The HTTPS certificate of {row.host} expires on "
        f"{row.not_after:%d %B %Y, %H:%M} UTC ({days} days from now), and renewing it "
        "keeps failing.\n\n"
        f"The last error: {row.last_error or 'unknown'}\n\n"
        "If it is not renewed, visitors will see a browser warning instead of the page.\n"
        "`landingpad tls status` shows every certificate; `landingpad tls issue "
        f"{row.host}` tries again now.\n")

    def build() -> EmailMessage:
        message = EmailMessage(policy=POLICY)
        message["From"] = mailbox(_sender(app, to), "landingpad")
        message["To"] = mailbox(to)
        message["Subject"] = f"Certificate for {row.host} expires in {days} days"
        message["Date"] = format_datetime(utcnow())
        message["Message-ID"] = make_msgid(domain=to.rpartition("@")[2])
        message.set_content(text)
        return message

    return deliver(app, build, "certificate alert")


def _sender(app: Flask, to: str) -> str:
    return app.config["ACME_EMAIL"] or to
