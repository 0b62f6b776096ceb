"""The cookieless form token: signed, bound to the site, carrying when the form was served.

It stands in for a CSRF cookie on public pages and gives the bot checks a
clock: a form posted sooner than the minimum fill time, or later than the
maximum age, is not a person filling in a fresh form.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import time

from itsdangerous import Signer


class Verdict(enum.Enum):
    OK = "ok"
    INVALID = "invalid"  # missing, malformed, forged, or for another site
    TOO_FAST = "too_fast"
    EXPIRED = "expired"


class FormTokens:
    SLOT_MS = 100  # tokens issued within one slot are the same string

    def __init__(self, secret: str, min_fill_seconds: float, max_age_seconds: float) -> None:
        self._signer = Signer(secret, salt="landingpad.form-token", digest_method=hashlib.sha256)
        self._key = self._signer.derive_key()  # derived once, not per token
        self.min_fill = min_fill_seconds
        self.max_age = max_age_seconds
        self._recent: dict[str, tuple[int, str]] = {}

    def _sign(self, value: str) -> str:
        signature = self._signer.algorithm.get_signature(self._key, value.encode())
        return base64.urlsafe_b64encode(signature).rstrip(b"=").decode("ascii")

    def slot(self, now: float) -> int:
        """The slot of time ``now`` (seconds) falls in: its start, in milliseconds."""
        ms = int(now * 1000)
        return ms - ms % self.SLOT_MS

    def issue(self, domain: str, now: float | None = None) -> str:
        """A token for a form served now (to 0.1 s: reused within a slot, for the hot path)."""
        slot = self.slot(time.time() if now is None else now)
        recent = self._recent.get(domain)
        if recent is not None and recent[0] == slot:
            return recent[1]
        stamp = format(slot, "x")
        token = f"{stamp}.{self._sign(f'{domain}|{stamp}')}"
        if len(self._recent) > 1024:  # only hot sites profit; keep memory flat
            self._recent.clear()
        self._recent[domain] = (slot, token)
        return token

    def check(self, domain: str, token: str | None, now: float | None = None) -> Verdict:
        if not token or len(token) > 100 or token.count(".") != 1:
            return Verdict.INVALID
        stamp, signature = token.split(".")
        if not hmac.compare_digest(self._sign(f"{domain}|{stamp}"), signature):
            return Verdict.INVALID
        try:
            issued = int(stamp, 16) / 1000
        except ValueError:
            return Verdict.INVALID
        age = (time.time() if now is None else now) - issued
        if age < self.min_fill:
            return Verdict.TOO_FAST
        if age > self.max_age:
            return Verdict.EXPIRED
        return Verdict.OK
