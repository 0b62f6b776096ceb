"""Signed, opaque tokens for links in emails (they name a sign-up by id, never by address)."""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer


def _serializer(purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=f"landingpad.{purpose}")


def access_token(signup_id: int) -> str:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"],
                                  salt="landingpad.access").dumps(signup_id)


def read_access_token(token: str) -> int | str | None:
    """The sign-up id; "expired"; or None for a forged link."""
    if len(token) > 200:
        return None
    serializer = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="landingpad.access")
    try:
        value = serializer.loads(token, max_age=current_app.config["ACCESS_LINK_MAX_AGE"])
    except SignatureExpired:
        return "expired"
    except BadSignature:
        return None
    return value if isinstance(value, int) else None


def confirm_token(signup_id: int) -> str:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"],
                                  salt="landingpad.confirm").dumps(signup_id)


def read_confirm_token(token: str) -> int | str | None:
    """The sign-up id; "expired" for a genuine but old link; None for a forged one."""
    if len(token) > 200:
        return None
    serializer = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="landingpad.confirm")
    try:
        value = serializer.loads(token, max_age=current_app.config["CONFIRM_MAX_AGE"])
    except SignatureExpired:
        return "expired"
    except BadSignature:
        return None
    return value if isinstance(value, int) else None


def unsubscribe_token(signup_id: int) -> str:
    return _serializer("unsubscribe").dumps(signup_id)


def read_unsubscribe_token(token: str) -> int | None:
    """The sign-up id, or None for a forged or mangled token."""
    if len(token) > 200:
        return None
    try:
        value = _serializer("unsubscribe").loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, int) else None
