"""Building messages with the email package's modern policy (no header can be injected)."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

from landingpad.sites import Site
from landingpad.storage.types import utcnow

# Fold only past RFC 5322's hard limit: providers read List-Unsubscribe strictly.
POLICY = policy.SMTP.clone(max_line_length=998)


def build_message(site: Site, to: str, subject: str, text: str, html: str, message_id: str,
                  unsubscribe_url: str | None = None) -> EmailMessage:
    """A multipart/alternative message from the site's sender.

    Header values with CR/LF raise ValueError (modern policy), so neither a
    setting nor a subject can add a header.
    """
    message = EmailMessage(policy=POLICY)
    message["From"] = f"{site.title} <{site.from_address}>"
    message["To"] = to
    if site.email:
        message["Reply-To"] = site.email
    message["Subject"] = subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = message_id
    if unsubscribe_url:
        # RFC 8058 one-click: mail clients POST "List-Unsubscribe=One-Click" to the URL.
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message
