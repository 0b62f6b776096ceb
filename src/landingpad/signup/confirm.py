"""Double opt-in: the confirmation email, capped per address per day.

Sent after the sign-up's response (mail.outbox): whether a mail goes out says
whether the address was known, so even that decision is taken afterwards.
"""

from __future__ import annotations

import logging
import uuid
from email.message import EmailMessage
from functools import partial

from flask import current_app, render_template

from landingpad import ratelimit
from landingpad.mail.message import build_message
from landingpad.mail.outbox import send_after_response
from landingpad.sites import Site
from landingpad.storage import get_session
from landingpad.storage.signups import Stored, link_key_of
from landingpad.web.i18n import gettext, use_language
from landingpad.web.links import confirm_token

log = logging.getLogger(__name__)


def confirm_after_response(site: Site, email: str, stored: Stored, lang: str | None = None) -> None:
    """Queue the confirmation mail a sign-up may need; decided and sent after the response.

    ``stored`` is what the sign-up's statement answered (suppression included), so
    the request ran the same queries whatever the address.
    """
    send_after_response(partial(confirmation_message, site, email, stored,
                                lang or site.default_lang),
                        "confirmation mail", due=partial(_due, site, stored))


def _due(site: Site, stored: Stored) -> bool:
    """Whether a confirmation may be due (the caps and the row are checked when building)."""
    return (site.double_optin and not stored.confirmed) or stored.suppressed


def confirmation_message(site: Site, email: str, stored: Stored,
                         lang: str | None = None) -> EmailMessage | None:
    """The confirmation mail for a sign-up, or None when none is due.

    Due for an unconfirmed sign-up on a double opt-in site, and for an address
    that unsubscribed or was forgotten (on any site): anyone can type an address
    into a single opt-in form, so it is mailed again only once its owner confirms.
    At most CONFIRMS_PER_DAY per address.
    """
    if not _due(site, stored):
        return None
    config = current_app.config
    if not ratelimit.take_mail("confirm", email, config["CONFIRMS_PER_DAY"]):
        log.info("confirmation cap reached for a sign-up on %s", site.domain)
        return None
    # Read again: the row may have been erased (and its key with it) since the sign-up.
    if link_key_of(get_session(), stored.id) != stored.link_key:
        return None
    token = confirm_token(stored.id, stored.link_key)
    lang = lang or site.default_lang
    url = f"{config['PUBLIC_SCHEME']}://{site.domain}/confirm/{token}"
    if site.multilingual:
        url += f"?lang={lang}"
    with use_language(site, lang):  # the language of the page the visitor signed up on
        text = render_template("signup/confirm_email.txt", site=site, url=url)
        html = render_template("signup/confirm_email.html", site=site, url=url)
        subject = gettext("Please confirm your sign-up to %(title)s",
                          title=site.own_text(lang, "title") or site.title)
    # The sign-up is stored either way: if this mail fails, signing up again sends a new one.
    return build_message(site, email, subject, text,
                         html, f"<confirm-{uuid.uuid4().hex}@{site.domain}>")
