"""Caps on mail per address and day ("list bombing"), counted by the shared rate limiter."""

from __future__ import annotations

from flask import current_app

from landingpad import ratelimit

ACCESS_PER_DAY = 3  # "see or erase my data" links


def _rate(per_day: int) -> str:
    return f"{per_day}/day"


def take(kind: str, email: str, per_day: int) -> bool:
    """Count one mail of ``kind`` to ``email``; False past ``per_day``.

    Keyed by an HMAC of the address, so the store never holds the address.
    """
    return ratelimit.hit(_rate(per_day), ratelimit.address_key(kind, email))


def forget(email: str) -> None:
    """Drop the counts kept for an erased address."""
    caps = {"confirm": current_app.config["CONFIRMS_PER_DAY"], "access": ACCESS_PER_DAY}
    for kind, per_day in caps.items():
        ratelimit.clear(_rate(per_day), ratelimit.address_key(kind, email))
