"""Signed, opaque tokens for links in emails: they name one sign-up row, never an address.

A token holds the row's id and its ``link_key`` (random per row), signed with
the install's secret and a salt per purpose. A link outlives its row in the
mailbox: after an erasure, an admin delete or a purge, the id alone could
name a later row, so a link acts only where both match.

Links sent before keys existed hold the id alone. They are honoured only for
rows marked ``legacy_links`` (made before migration 0007), and a timed one
only if the row existed when it was signed, so such a link can't reach a row
made later. Unsubscribe links never expire: they are in every mail ever sent.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass
from functools import lru_cache

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from landingpad.storage.models import Signup

MAX_TOKEN = 200
# purpose -> the setting holding its maximum age in seconds (None: never expires)
MAX_AGES = {"confirm": "CONFIRM_MAX_AGE", "access": "ACCESS_LINK_MAX_AGE", "unsubscribe": None}


class Refused(enum.Enum):
    """Why a token names no row: genuine but too old, or not genuine (or no longer
    naming a row: erased, purged, another site's)."""

    EXPIRED = "expired"
    INVALID = "invalid"


@dataclass(frozen=True)
class Link:
    """What a genuine token says: a row, its key (None in an old link) and when it was signed."""

    signup_id: int
    link_key: str | None
    issued_at: int | None  # seconds since the epoch; None for untimed tokens


def _serializer(purpose: str) -> URLSafeSerializer:
    return _serializer_for(purpose, current_app.config["SECRET_KEY"])


@lru_cache(maxsize=16)
def _serializer_for(purpose: str, secret: str | bytes) -> URLSafeSerializer:
    # Built once per purpose and secret: building one cost as much as signing with it
    # (one per message of an announcement).
    kind = URLSafeSerializer if MAX_AGES[purpose] is None else URLSafeTimedSerializer
    return kind(secret, salt=f"landingpad.{purpose}")


def make_token(purpose: str, signup_id: int, link_key: str) -> str:
    return _serializer(purpose).dumps([signup_id, link_key])


def read_token(purpose: str, token: str) -> Link | Refused:
    """The link a token names, or why not."""
    if len(token) > MAX_TOKEN:
        return Refused.INVALID
    setting = MAX_AGES[purpose]
    serializer = _serializer(purpose)
    try:
        if setting is None:
            value, issued = serializer.loads(token), None
        else:
            value, stamp = serializer.loads(token, max_age=current_app.config[setting],
                                            return_timestamp=True)
            issued = int(stamp.timestamp())
    except SignatureExpired:
        return Refused.EXPIRED
    except BadSignature:
        return Refused.INVALID
    if type(value) is int:  # a link made before rows had keys
        return Link(value, None, issued)
    if (isinstance(value, list) and len(value) == 2 and type(value[0]) is int
            and isinstance(value[1], str)):
        return Link(value[0], value[1], issued)
    return Refused.INVALID


def signup_for_token(session: Session, purpose: str, token: str,
                     site: str) -> Signup | Refused:
    """The sign-up a link acts on: only the very row it was issued for, on its own site."""
    link = read_token(purpose, token)
    if not isinstance(link, Link):
        return link
    row = session.get(Signup, link.signup_id)
    if row is None or row.site != site:
        return Refused.INVALID
    if link.link_key is None:
        # Signed before rows had keys: only a row that existed then, and for a timed
        # link, one made no later than the link (created_at is kept by every update).
        if not row.legacy_links or (link.issued_at is not None
                                    and int(row.created_at.timestamp()) > link.issued_at):
            return Refused.INVALID
    elif not hmac.compare_digest(link.link_key.encode(), row.link_key.encode()):
        return Refused.INVALID
    return row


def unsubscribe_token(signup_id: int, link_key: str) -> str:
    return make_token("unsubscribe", signup_id, link_key)


def confirm_token(signup_id: int, link_key: str) -> str:
    return make_token("confirm", signup_id, link_key)


def access_token(signup_id: int, link_key: str) -> str:
    return make_token("access", signup_id, link_key)
