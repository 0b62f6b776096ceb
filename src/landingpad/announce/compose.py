"""Markdown -> sanitised HTML and plain text, in a simple per-site email template."""

from __future__ import annotations

import markdown
import nh3
from flask import current_app, render_template
from markupsafe import Markup

from landingpad.mail.message import build_message
from landingpad.mail.outbox import get_outbox
from landingpad.sites import Site, get_registry
from landingpad.web.i18n import use_language

ALLOWED_TAGS = {"a", "b", "blockquote", "br", "code", "em", "h2", "h3", "hr", "i", "li", "ol",
                "p", "pre", "strong", "ul"}


def body_html(markdown_text: str) -> Markup:
    """The body as HTML: Markdown rendered, then cleaned (no script, style, images or events)."""
    html = markdown.markdown(markdown_text, extensions=["sane_lists"])
    cleaned = nh3.clean(html, tags=ALLOWED_TAGS, attributes={"a": {"href"}},
                        url_schemes={"https", "http", "mailto"}, link_rel="noopener noreferrer")
    return Markup(cleaned)  # noqa: S704 - sanitised by nh3 just above


def render_email(site: Site, subject: str, markdown_text: str,
                 unsubscribe_url: str | None, lang: str | None = None) -> tuple[str, str]:
    """(text, html) of one message for one site; the footer in ``lang`` (default: the
    site's default language), the owner's subject and body as written."""
    scheme = current_app.config["PUBLIC_SCHEME"]
    logo_url = f"{scheme}://{site.domain}{site.logo}" if site.logo else None
    context = {"site": site, "subject": subject, "unsubscribe_url": unsubscribe_url,
               "logo_url": logo_url}
    with use_language(site, lang or site.default_lang):
        html = render_template("announce/email.html", body_html=body_html(markdown_text),
                               **context)
        text = render_template("announce/email.txt", body_text=markdown_text.strip(),
                               **context)
    return text, html


def sample_unsubscribe_url(site: Site) -> str:
    """Where a test copy's unsubscribe link points: the recipients' form of URL, no row."""
    return f"{current_app.config['PUBLIC_SCHEME']}://{site.domain}/unsubscribe/test-copy"


def send_test_copy(announcement: object, to: str) -> None:
    """One copy to ``to``, as the first site's sign-ups get it, subject marked [TEST].

    The same headers (List-Unsubscribe included), footer and signature as the
    recipients' copies; only the unsubscribe link leads nowhere (no sign-up is
    behind it). Sent now, through the app's outbox (the owner waits to see whether
    it went): raises DeliveryError when the transport refuses it.
    """
    import uuid


    site = get_registry().site_for_host(announcement.sites[0])
    url = sample_unsubscribe_url(site)
    text, html = render_email(site, announcement.subject, announcement.body_markdown, url)
    message = build_message(site, to, f"[TEST] {announcement.subject}", text, html,
                            f"<test-{uuid.uuid4().hex}@{site.domain}>", url)
    get_outbox().send(message)
