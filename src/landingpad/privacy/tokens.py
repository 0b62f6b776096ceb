"""Signed, opaque tokens for links in emails: they name a sign-up by id, never by address."""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

MAX_TOKEN = 200


def _serializer(purpose: str, timed: bool) -> URLSafeSerializer:
    kind = URLSafeTimedSerializer if timed else URLSafeSerializer
    return kind(current_app.config["SECRET_KEY"], salt=f"landingpad.{purpose}")


def make_token(purpose: str, signup_id: int, timed: bool = True) -> str:
    return _serializer(purpose, timed).dumps(signup_id)


def read_token(purpose: str, token: str, max_age: int | None = None) -> int | str | None:
    """The sign-up id; "expired" for a genuine but old link; None for a forged one.

    ``max_age`` None reads an untimed token (unsubscribe links never expire).
    """
    if len(token) > MAX_TOKEN:
        return None
    serializer = _serializer(purpose, timed=max_age is not None)
    try:
        value = serializer.loads(token, **({"max_age": max_age} if max_age else {}))
    except SignatureExpired:
        return "expired"
    except BadSignature:
        return None
    return value if isinstance(value, int) else None


def unsubscribe_token(signup_id: int) -> str:
    return make_token("unsubscribe", signup_id, timed=False)


def read_unsubscribe_token(token: str) -> int | None:
    value = read_token("unsubscribe", token)
    return value if isinstance(value, int) else None


def confirm_token(signup_id: int) -> str:
    return make_token("confirm", signup_id)


def read_confirm_token(token: str) -> int | str | None:
    return read_token("confirm", token, current_app.config["CONFIRM_MAX_AGE"])


def access_token(signup_id: int) -> str:
    return make_token("access", signup_id)


def read_access_token(token: str) -> int | str | None:
    return read_token("access", token, current_app.config["ACCESS_LINK_MAX_AGE"])
