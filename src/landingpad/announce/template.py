"""Each recipient's message as bytes, from one template per site.

The email package builds and checks a site's message once, with slots for the
address, the Message-ID, the date and the unsubscribe URL; each recipient then
costs a few byte replacements. When a slot doesn't survive flattening verbatim
(an encoded body) or the address isn't ASCII, the message is built in full:
slower, same result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.errors import MessageError
from email.utils import format_datetime

from flask import Flask

from landingpad.announce.compose import render_email
from landingpad.mail.message import build_message, envelope_address
from landingpad.mail.verp import verp_sender
from landingpad.sites import Site, get_registry
from landingpad.storage.models import Announcement, Recipient
from landingpad.storage.types import utcnow
from landingpad.web.links import unsubscribe_token

UNSUBSCRIBE_SLOT = "__landingpad_unsubscribe_url__"
TO_SLOT = "recipient-slot@landingpad.invalid"
ID_SLOT = "<message-id-slot@landingpad.invalid>"

# Finished bytes and the From address -> the bytes to send (DKIM-signed when its domain
# has a key).
Sign = Callable[[bytes, str], bytes]


def message_id(announcement: Announcement, recipient_id: int, domain: str) -> str:
    """Fixed per (announcement, recipient): a duplicate would be visible at the receiver.

    Unique for good: ids are never reused, and the announcement's random key keeps
    them apart from another database's (a reinstall). Announcements made before
    the key existed keep their old form.
    """
    key = f".{announcement.message_key}" if announcement.message_key else ""
    return f"<announce-{announcement.id}-{recipient_id}{key}@{domain}>"


@dataclass(frozen=True)
class SiteMail:
    """One site's message for one announcement, built once.

    ``template`` is the finished message with slots, or None when a slot didn't
    survive flattening verbatim: then each message is built in full.
    """

    site: Site
    subject: str
    text: str
    html: str
    template: bytes | None
    date: bytes  # the template's Date header line, replaced by each message's own
    lang: str = ""  # the footer's language

    @classmethod
    def build(cls, site: Site, subject: str, body_markdown: str,
              lang: str | None = None) -> SiteMail:
        text, html = render_email(site, subject, body_markdown, UNSUBSCRIBE_SLOT, lang)
        probe = build_message(site, TO_SLOT, subject, text, html, ID_SLOT, UNSUBSCRIBE_SLOT)
        data = probe.as_bytes()
        date = f"Date: {probe['Date']}\r\n".encode()
        urls = 1 + text.count(UNSUBSCRIBE_SLOT) + html.count(UNSUBSCRIBE_SLOT)
        intact = (data.count(TO_SLOT.encode()) == 1 and data.count(ID_SLOT.encode()) == 1
                  and data.count(date) == 1
                  and data.count(UNSUBSCRIBE_SLOT.encode()) == urls)
        return cls(site, subject, text, html, data if intact else None, date,
                   lang or site.default_lang)

    def without_template(self) -> SiteMail:
        """The same message, always built in full (the slow path the template must equal)."""
        return SiteMail(self.site, self.subject, self.text, self.html, None, self.date,
                        self.lang)

    def render(self, to: str, mid: str, unsubscribe_url: str,
               now: datetime | None = None) -> bytes:
        """The message to ``to``, unsigned. Raises ValueError or MessageError for an
        address the email package can't carry."""
        if self.template is not None and to.isascii():
            when = f"Date: {format_datetime(now or utcnow())}\r\n".encode()
            return (self.template.replace(TO_SLOT.encode(), to.encode())
                    .replace(ID_SLOT.encode(), mid.encode())
                    .replace(UNSUBSCRIBE_SLOT.encode(), unsubscribe_url.encode())
                    .replace(self.date, when))
        return build_message(self.site, to, self.subject,
                             self.text.replace(UNSUBSCRIBE_SLOT, unsubscribe_url),
                             self.html.replace(UNSUBSCRIBE_SLOT, unsubscribe_url), mid,
                             unsubscribe_url).as_bytes()


@dataclass(frozen=True)
class Ready:
    """A row's message, built ahead: its bytes and envelope, or why it can't go."""

    data: bytes = b""
    envelope: tuple[str, str] = ("", "")
    message_id: str = ""
    error: str | None = None


class Messages:
    """One announcement's messages: a SiteMail per site (built on first use), and each
    recipient's signed bytes."""

    def __init__(self, app: Flask, announcement: Announcement, sign: Sign) -> None:
        self.app = app
        self.announcement = announcement
        self.sign = sign
        self._sites: dict[tuple[str, str | None], SiteMail | None] = {}

    def for_site(self, domain: str, lang: str | None = None) -> SiteMail | None:
        """None when the site is no longer configured. Needs an app context.

        The footer is in ``lang`` when the site still offers it, else in the site's
        default language: one SiteMail per language the recipients signed up in.
        """
        key = (domain, lang)
        if key not in self._sites:
            site = get_registry(self.app).site_for_host(domain)
            mail = None
            if site is not None:
                chosen = lang if lang in site.languages else site.default_lang
                mail = self._sites.get((domain, chosen)) or SiteMail.build(
                    site, self.announcement.subject, self.announcement.body_markdown, chosen)
                self._sites[(domain, chosen)] = mail
            self._sites[key] = mail
        return self._sites[key]

    def unsubscribe_url(self, site: Site, signup_id: int, link_key: str,
                        lang: str | None = None) -> str:
        # Unsubscribe links name the sign-up row and its key (web/links.py); on a site of
        # several languages, the page opens in the mail's.
        suffix = f"?lang={lang}" if lang and site.multilingual else ""
        return (f"{self.app.config['PUBLIC_SCHEME']}://{site.domain}/unsubscribe/"
                f"{unsubscribe_token(signup_id, link_key)}{suffix}")

    def prepare(self, row: Recipient, link_key: str | None, lang: str | None = None) -> Ready:
        """Row's message and envelope, or why it must not be sent. ``link_key`` is its
        sign-up's, or None when the sign-up unsubscribed or was deleted meanwhile;
        ``lang`` the language it signed up in."""
        mail = self.for_site(row.site, lang)
        if mail is None:
            return Ready(error=f"{row.site} is no longer configured")
        if link_key is None or row.signup_id is None:
            return Ready(error="unsubscribed or deleted before sending")
        mid = message_id(self.announcement, row.id, mail.site.domain)
        try:
            data = self.sign(mail.render(row.email, mid, self.unsubscribe_url(
                mail.site, row.signup_id, link_key, mail.lang)), mail.site.from_address)
            # The envelope sender names this row (VERP) when a bounce domain is set.
            envelope = (verp_sender(self.app.config, envelope_address(mail.site.from_address),
                                    recipient_id=row.id), envelope_address(row.email))
        except (ValueError, MessageError) as exc:
            # One address the email package can't carry (an import, an old row) fails
            # alone: recorded, and the announcement goes on to the next recipient.
            return Ready(error=f"message not built: {exc}"[:2000])
        return Ready(data, envelope, mid)
