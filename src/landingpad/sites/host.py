"""Host names: the one place a request's host or a configured domain is normalised."""

from __future__ import annotations

import re
from functools import lru_cache

import idna

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_PORT = re.compile(r":[0-9]{1,5}$")


class InvalidHost(ValueError):
    """The value is not a host name we can serve."""


@lru_cache(maxsize=4096)
def normalize_host(raw: str) -> str:
    """Return the canonical form of a host: lower case, no port, no trailing dot, IDNA ASCII.

    Raises InvalidHost for anything that is not a DNS host name (IP literals
    included: a landing page is served for a name, never for an address).
    """
    if not raw or len(raw) > 300:
        raise InvalidHost("missing or oversized host")
    port = _PORT.search(raw.strip())
    if port and not 0 < int(port.group()[1:]) < 65536:
        raise InvalidHost("port out of range")
    host = _PORT.sub("", raw.strip())
    if host.endswith("."):
        host = host[:-1]
    if not host:
        raise InvalidHost("empty host")
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise InvalidHost(f"not a valid international domain name: {exc}") from None
    host = host.lower()
    if len(host) > 253:
        raise InvalidHost("host name longer than 253 characters")
    labels = host.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise InvalidHost("host name has an invalid label")
    if labels[-1].isdigit():
        raise InvalidHost("IP addresses are not site names")
    if any(label.startswith("xn--") for label in labels):
        try:  # a punycode label must decode to a valid IDNA name
            idna.decode(host)
        except (idna.IDNAError, UnicodeError) as exc:
            raise InvalidHost(f"invalid punycode label: {exc}") from None
    return host


def check_request_host(raw: str) -> str:
    """``raw`` unchanged if a request may name it; InvalidHost for a Host that is not ASCII.

    Browsers send an international name in its ASCII (xn--) form. Raw non-ASCII bytes
    would go through IDNA/UTS46 mapping, which folds fullwidth letters, soft hyphens,
    joiners and compatibility characters into other names: one site (or the admin
    host) could be reached under many spellings. Refused before any mapping.
    """
    if not raw.isascii():
        raise InvalidHost("the host name is not ASCII (send an international name as xn--)")
    return raw


def request_host_name(raw: str) -> str:
    """The normalised host a request names (InvalidHost for a non-ASCII or bad one)."""
    return normalize_host(check_request_host(raw))
