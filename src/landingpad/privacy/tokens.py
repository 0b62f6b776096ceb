"""Signed, opaque tokens for links in emails (they name a sign-up by id, never by address)."""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer


def _serializer(purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=f"landingpad.{purpose}")


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
