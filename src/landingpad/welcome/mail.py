"""Building the welcome mail, and the journal row that makes it go at most once."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from functools import partial

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from landingpad.announce import render_email
from landingpad.mail.message import build_message
from landingpad.mail.outbox import send_after_response
from landingpad.sites import Site
from landingpad.storage import get_session
from landingpad.storage.engine import write_lock
from landingpad.storage.models import Signup, Welcome
from landingpad.storage.suppression import suppressed
from landingpad.storage.types import utcnow
from landingpad.web.i18n import use_language
from landingpad.web.links import unsubscribe_token

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def welcome_after_response(site: Site, signup_id: int) -> None:
    """Queue the site's welcome mail for this sign-up; decided and sent after the response.

    Nothing at all when the site has no welcome text.
    """
    if site.welcome:
        send_after_response(partial(welcome_message, site, signup_id), "welcome mail")


def subject_of(site: Site, lang: str) -> str:
    """The owner's subject, else "Welcome to TITLE" in the visitor's language."""
    if site.welcome_subject:
        return site.welcome_subject
    with use_language(site, lang):
        return gettext("Welcome to %(title)s", title=site.title)


def welcome_message(site: Site, signup_id: int) -> EmailMessage | None:
    """The welcome mail for a sign-up, or None when none is due (any more).

    Due once per sign-up row, to an address that is subscribed and, on a double
    opt-in site, confirmed. The journal row is committed first: a crash after it
    loses this mail rather than sending it twice.
    """
    if not site.welcome:
        return None
    session = get_session()
    signup = session.scalar(select(Signup).where(Signup.id == signup_id))
    if signup is None or signup.site != site.domain or signup.unsubscribed_at is not None:
        return None
    if site.double_optin and signup.confirmed_at is None:
        return None
    if signup.confirmed_at is None and suppressed(session, current_app.config["SECRET_KEY"],
                                                  [signup.email]):
        return None  # it unsubscribed once: only its owner's confirmation lifts that
    engine = session.get_bind()
    insert = _INSERTS[engine.dialect.name]
    with write_lock(engine):
        taken = session.execute(insert(Welcome).values(signup_id=signup_id, created_at=utcnow())
                                .on_conflict_do_nothing(index_elements=["signup_id"])).rowcount
        session.commit()
    if not taken:
        return None  # welcomed before
    config = current_app.config
    # The visitor's language (the page they signed up on), as the confirmation mail's.
    lang = signup.lang if signup.lang in site.languages else site.default_lang
    url = (f"{config['PUBLIC_SCHEME']}://{site.domain}/unsubscribe/"
           f"{unsubscribe_token(signup.id, signup.link_key)}"
           + (f"?lang={lang}" if site.multilingual else ""))
    subject = subject_of(site, lang)
    text, html = render_email(site, subject, site.welcome, url, lang)
    return build_message(site, signup.email, subject, text, html,
                         f"<welcome-{uuid.uuid4().hex}@{site.domain}>", url)
