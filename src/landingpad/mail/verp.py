"""VERP: each mail's envelope sender names what it was, so a bounce can be matched back.

With ``BOUNCE_DOMAIN`` set, a mail leaves with ``MAIL FROM:<bounces+TOKEN@BOUNCE_DOMAIN>``;
the receiving side's DSN (or a feedback loop's complaint) comes back to that address,
and the ``bounces`` feature reads TOKEN with ``read_token``.

TOKEN is a kind, a compact id and an HMAC (80 bits, keyed by the install's secret):
nobody can make one for an address they never received mail for, so a forged
report can't suppress someone else. Base32 in lower case: some mail systems
change the case of a local part. The local part stays well under 64 characters.

- ``a`` + a recipient row id: an announcement's mail (-> site, address, announcement);
- ``m`` + 8 bytes of the address's keyed hash: any other mail (confirmation, access
  link, alert); the report's own failed address must have that hash to be matched.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from landingpad.storage.suppression import address_hash

LOCAL_PREFIX = "bounces"
_MAC_BYTES = 10
_HASH_BYTES = 8
ANNOUNCEMENT = "a"
MAIL = "m"


@dataclass(frozen=True)
class VerpToken:
    """What a valid token names: a recipient row (``ANNOUNCEMENT``) or an address hash."""

    kind: str
    recipient_id: int | None = None
    hash_prefix: str = ""  # hex; address_hash(secret, email) starts with it

    def matches(self, secret: str, email: str) -> bool:
        """Whether ``email`` is the address a MAIL token was made for."""
        return bool(self.hash_prefix) and hmac.compare_digest(
            address_hash(secret, email)[:2 * _HASH_BYTES], self.hash_prefix)


def _key(secret: str) -> bytes:
    # A key of its own: a VERP MAC can never be replayed as a link signature.
    return hmac.new(secret.encode(), b"landingpad verp v1", hashlib.sha256).digest()


def _seal(secret: str, payload: bytes) -> str:
    mac = hmac.new(_key(secret), payload, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.b32encode(payload + mac).decode("ascii").rstrip("=").lower()


def make_token(secret: str, *, recipient_id: int | None = None, email: str = "") -> str:
    """The token for an announcement's recipient row, or else for a mail to ``email``."""
    if recipient_id is not None:
        if recipient_id < 0:
            raise ValueError("a recipient id is never negative")
        body = recipient_id.to_bytes(max(1, (recipient_id.bit_length() + 7) // 8), "big")
        return _seal(secret, ANNOUNCEMENT.encode() + body)
    if not email:
        raise ValueError("a VERP token needs a recipient row or an address")
    return _seal(secret, MAIL.encode() + bytes.fromhex(address_hash(secret, email))[:_HASH_BYTES])


def read_token(secret: str, token: str) -> VerpToken | None:
    """What ``token`` names, or None when it is garbled, forged or made with another key."""
    text = token.strip().upper()
    if not 8 <= len(text) <= 40 or not text.isascii() or not text.isalnum():
        return None
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except ValueError:
        return None
    if len(raw) < 2 + _MAC_BYTES:
        return None
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    expected = hmac.new(_key(secret), payload, hashlib.sha256).digest()[:_MAC_BYTES]
    if not hmac.compare_digest(mac, expected):
        return None
    kind, body = chr(payload[0]), payload[1:]
    if kind == ANNOUNCEMENT and 1 <= len(body) <= 8:
        return VerpToken(ANNOUNCEMENT, recipient_id=int.from_bytes(body, "big"))
    if kind == MAIL and len(body) == _HASH_BYTES:
        return VerpToken(MAIL, hash_prefix=body.hex())
    return None


def verp_sender(config: Mapping[str, Any], default: str, *, recipient_id: int | None = None,
                email: str = "") -> str:
    """The envelope sender for one mail: ``default`` (the From address) when no
    BOUNCE_DOMAIN is set, else bounces+TOKEN@BOUNCE_DOMAIN."""
    domain = config.get("BOUNCE_DOMAIN") or ""
    if not domain:
        return default
    token = make_token(config["SECRET_KEY"], recipient_id=recipient_id, email=email)
    return f"{LOCAL_PREFIX}+{token}@{domain}"


def token_of(address: str, domain: str) -> str | None:
    """The TOKEN of ``bounces+TOKEN@domain`` (any case), else None."""
    local, at, where = address.strip().strip("<>").rpartition("@")
    if not at or where.lower().rstrip(".") != domain.lower():
        return None
    prefix, plus, token = local.partition("+")
    if not plus or prefix.lower() != LOCAL_PREFIX:
        return None
    return token
