"""Log-in throttle: failed log-ins per account and per client, counted by the shared rate limiter.

Only failures count, and a successful log-in forgets the account's (not the
client's). With Redis every node shares the counts; keys hold HMACs, never
an address.
"""

from __future__ import annotations

from landingpad import ratelimit

PER_ACCOUNT = "5 per 15 minutes"
PER_CLIENT = "20 per 15 minutes"


def keys(email: str) -> list[tuple[str, str]]:
    """(rate, key) pairs for an attempt: the account first, then the client.

    The client is counted for the admin area as a whole, not per raw Host: another
    port or spelling of the admin host must not start a fresh count.
    """
    return [(PER_ACCOUNT, ratelimit.address_key("login", email.strip())),
            (PER_CLIENT, "login-client:" + ratelimit.client_key(scope="admin"))]


def blocked_for(pairs: list[tuple[str, str]]) -> int:
    """Seconds until another attempt is allowed (0: allowed now)."""
    return max(ratelimit.wait_for(rate, key) for rate, key in pairs)


def record_failure(pairs: list[tuple[str, str]]) -> None:
    for rate, key in pairs:
        ratelimit.hit(rate, key)


def clear(pairs: list[tuple[str, str]]) -> None:
    rate, key = pairs[0]
    ratelimit.clear(rate, key)
