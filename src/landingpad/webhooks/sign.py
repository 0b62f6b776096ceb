"""The Standard Webhooks signature (https://www.standardwebhooks.com): HMAC-SHA256 of
``id.timestamp.body`` with the secret's bytes, sent as ``v1,<base64>``."""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one message."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")
