"""Who receives an announcement: taken once from the sign-ups, then fixed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from landingpad.sites import SiteRegistry
from landingpad.storage.models import Announcement, Recipient, RecipientState, Signup
from landingpad.storage.suppression import suppressed
from landingpad.storage.types import utcnow


def eligible(session: Session, announcement: Announcement,
             registry: SiteRegistry) -> list[Signup]:
    """Still-subscribed (and, with double opt-in, confirmed) sign-ups; one per address.

    An address on several chosen sites gets one message, from the first site
    named in the announcement.
    """
    chosen: dict[str, Signup] = {}
    for site_name in announcement.sites:
        site = registry.site_for_host(site_name)
        query = select(Signup).where(Signup.site == site_name, Signup.unsubscribed_at.is_(None))
        if site is not None and site.double_optin:
            query = query.where(Signup.confirmed_at.is_not(None))
        if announcement.interest:
            query = query.where(Signup.interested_in(announcement.interest))
        for signup in session.scalars(query.order_by(Signup.id)):
            chosen.setdefault(signup.email, signup)
    # Never mail an address that unsubscribed or was forgotten, even if re-imported.
    blocked = suppressed(session, current_app.config["SECRET_KEY"], list(chosen))
    return [s for email, s in chosen.items() if email not in blocked]


def materialise(session: Session, announcement: Announcement, registry: SiteRegistry) -> int:
    """Create the recipient rows once (the first `send`); later calls change nothing."""
    if announcement.recipients_at is not None:
        return 0
    rows = [Recipient(announcement_id=announcement.id, email=s.email, site=s.site,
                      signup_id=s.id, state=RecipientState.PENDING, attempts=0)
            for s in eligible(session, announcement, registry)]
    session.add_all(rows)
    announcement.recipients_at = utcnow()
    try:
        session.commit()
    except IntegrityError:
        session.rollback()  # another sender took the list first: use theirs
        return 0
    return len(rows)


class Subscribed(NamedTuple):
    link_key: str  # unsubscribe links carry it
    lang: str | None  # the language the visitor signed up in: the mail's footer follows it


def still_subscribed(session: Session,
                     signup_ids: Iterable[int | None]) -> dict[int, Subscribed]:
    """The link key and language of each of these sign-ups that still wants mail (one
    query per batch).

    Checked again just before sending: the list was taken at the first `send`, and
    people unsubscribe (or are deleted) meanwhile. Unsubscribe links carry the key.
    """
    ids = [i for i in signup_ids if i is not None]
    if not ids:
        return {}
    return {signup_id: Subscribed(key, lang) for signup_id, key, lang in session.execute(
        select(Signup.id, Signup.link_key, Signup.lang).where(
            Signup.id.in_(ids), Signup.unsubscribed_at.is_(None))).all()}
