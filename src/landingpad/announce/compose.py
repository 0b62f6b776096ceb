"""Markdown -> sanitised HTML and plain text, in a simple per-site email template."""

from __future__ import annotations

import markdown
import nh3
from flask import current_app, render_template
from markupsafe import Markup

from landingpad.sites import Site

ALLOWED_TAGS = {"a", "b", "blockquote", "br", "code", "em", "h2", "h3", "hr", "i", "li", "ol",
                "p", "pre", "strong", "ul"}


def body_html(markdown_text: str) -> Markup:
    """The body as HTML: Markdown rendered, then cleaned (no script, style, images or events)."""
    html = markdown.markdown(markdown_text, extensions=["sane_lists"])
    cleaned = nh3.clean(html, tags=ALLOWED_TAGS, attributes={"a": {"href"}},
                        url_schemes={"https", "http", "mailto"}, link_rel="noopener noreferrer")
    return Markup(cleaned)  # noqa: S704 - sanitised by nh3 just above


def render_email(site: Site, subject: str, markdown_text: str,
                 unsubscribe_url: str | None) -> tuple[str, str]:
    """(text, html) of one message for one site."""
    scheme = current_app.config["PUBLIC_SCHEME"]
    logo_url = f"{scheme}://{site.domain}{site.logo}" if site.logo else None
    context = {"site": site, "subject": subject, "unsubscribe_url": unsubscribe_url,
               "logo_url": logo_url}
    html = render_template("announce/email.html", body_html=body_html(markdown_text), **context)
    text = render_template("announce/email.txt", body_text=markdown_text.strip(), **context)
    return text, html
