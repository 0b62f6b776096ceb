"""Building messages with the email package's modern policy (no header can be injected).

Every address header is an ``email.headerregistry.Address`` built from its parts,
never a formatted string: a site title with a comma, quotes or ``<>`` stays one
display name of one mailbox.
"""

from __future__ import annotations

from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

import idna

from landingpad.sites import Site
from landingpad.storage.types import utcnow

# Fold only past RFC 5322's hard limit: providers read List-Unsubscribe strictly.
POLICY = policy.SMTP.clone(max_line_length=998)
# For a message to an address with a non-ASCII local part (RFC 6531): raw UTF-8 headers,
# which only a server that offers SMTPUTF8 may be given.
UTF8_POLICY = POLICY.clone(utf8=True)


def envelope_address(address: str) -> str:
    """The address as SMTP carries it: the domain in its ASCII (IDNA) form.

    ``joerg@exämple.de`` becomes ``joerg@xn--exmple-cua.de`` (any server takes it);
    a non-ASCII local part stays as it is and needs SMTPUTF8 (see needs_smtputf8).
    Raises ValueError for something that is not an address.
    """
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        raise ValueError("not an email address")
    if not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise ValueError(f"not a valid domain: {exc}") from None
    return f"{local}@{domain.lower()}"


def needs_smtputf8(address: str) -> bool:
    """Whether mail to or from ``address`` can only travel with SMTPUTF8."""
    return not envelope_address(address).isascii()


def mailbox(address: str, display_name: str = "") -> Address:
    """One mailbox header value, built from its parts (never parsed from a string)."""
    local, _, domain = envelope_address(address).rpartition("@")
    return Address(display_name=display_name, username=local, domain=domain)


def build_message(site: Site, to: str, subject: str, text: str, html: str, message_id: str,
                  unsubscribe_url: str | None = None) -> EmailMessage:
    """A multipart/alternative message from the site's sender.

    Header values with CR/LF raise ValueError (modern policy), so neither a
    setting nor a subject can add a header. A message with a non-ASCII local
    part in it is written with raw UTF-8 headers (only for SMTPUTF8 servers).
    """
    addresses = [to, site.from_address, *([site.email] if site.email else [])]
    utf8 = any(needs_smtputf8(a) for a in addresses)
    message = EmailMessage(policy=UTF8_POLICY if utf8 else POLICY)
    message["From"] = mailbox(site.from_address, site.title)
    message["To"] = mailbox(to)
    if site.email:
        message["Reply-To"] = mailbox(site.email)
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
