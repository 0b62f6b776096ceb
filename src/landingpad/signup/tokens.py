"""The cookieless form token: signed, bound to the site, carrying when the form was served.

It stands in for a CSRF cookie on public pages and gives the bot checks a
clock: a form posted sooner than the minimum fill time, or later than the
maximum age, is not a person filling in a fresh form.
"""

from __future__ import annotations

import enum
import hashlib
import time

from itsdangerous import Signer


class Verdict(enum.Enum):
    OK = "ok"
    INVALID = "invalid"  # missing, malformed, forged, or for another site
    TOO_FAST = "too_fast"
    EXPIRED = "expired"


class FormTokens:
    def __init__(self, secret: str, min_fill_seconds: float, max_age_seconds: float) -> None:
        self._signer = Signer(secret, salt="landingpad.form-token", digest_method=hashlib.sha256)
        self.min_fill = min_fill_seconds
        self.max_age = max_age_seconds

    def issue(self, domain: str, now: float | None = None) -> str:
        stamp = format(int((time.time() if now is None else now) * 1000), "x")
        signature = self._signer.get_signature(f"{domain}|{stamp}").decode("ascii")
        return f"{stamp}.{signature}"

    def check(self, domain: str, token: str | None, now: float | None = None) -> Verdict:
        if not token or len(token) > 100 or token.count(".") != 1:
            return Verdict.INVALID
        stamp, signature = token.split(".")
        if not self._signer.verify_signature(f"{domain}|{stamp}", signature):
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
