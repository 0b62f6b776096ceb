"""The kinds of values settings are made of: one parser per kind, one wording per mistake.

Both declarative tables read their values with these: the install's settings
(``settings.SETTINGS``, from environment variables) and the per-site fields
(``sites.site.SITE_FIELDS``, from the sites file, nginx params, ``domain add``
options and CSV cells). A parser takes the raw value, a string or a TOML value,
and returns the parsed value or raises ValueError with a short reason a person
can act on; the caller adds which variable, key, option or column it was.

Every text value first passes one check (``text``), so a line break is refused
with the same words wherever it is typed.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from landingpad.files import UnsafePath, safe_relative_path, safe_url_path

Parser = Callable[[Any], Any]

# Control characters (C0, DEL, C1 with NEL U+0085) and Unicode's line and paragraph
# separators: each is a line break to some reader (str.splitlines, mail clients, logs,
# nginx params). Lone surrogates can't even be written as UTF-8.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_WHOLE = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*")  # 16_777_216, as Python writes it


# -- the kinds both tables use --------------------------------------------------------

def text(limit: int | None = None, *, strip: bool = True) -> Callable[[Any], str]:
    """A parser for one line of text, at most ``limit`` characters.

    ``strip=False`` keeps outer spaces (a password may end in one).
    """
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if strip:
            value = value.strip()
        found = CONTROL.search(value)
        if found:
            raise ValueError("must not contain control characters or line breaks "
                             f"(found U+{ord(found.group()):04X})")
        if limit is not None and len(value) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return value

    return parse


_line = text(strip=False)  # the first check of every other string kind


def flag(value: Any) -> bool:
    """true/false, yes/no, on/off, 1/0 (any case), or a TOML boolean."""
    if isinstance(value, bool):
        return value
    word = value.strip().lower() if isinstance(value, str) else None
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def whole(minimum: int = 0, maximum: int | None = None) -> Callable[[Any], int]:
    """A parser for a whole number in [minimum, maximum]."""
    wanted = (f"must be a whole number from {minimum} to {maximum}" if maximum is not None
              else f"must be a whole number >= {minimum}")

    def parse(value: Any) -> int:
        # Outer white space (a trailing newline from a secret file) is not the number's.
        if isinstance(value, str) and _WHOLE.fullmatch(_line(value.strip())):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum \
                or (maximum is not None and value > maximum):
            raise ValueError(wanted)
        return value

    return parse


def number(minimum: float = 0) -> Callable[[Any], float]:
    """A parser for a finite number >= minimum (seconds, say)."""
    wanted = f"must be a number >= {minimum:g}"

    def parse(value: Any) -> float:
        if isinstance(value, str):
            try:
                value = float(_line(value.strip()))
            except ValueError:
                raise ValueError(wanted) from None
        if not isinstance(value, int | float) or isinstance(value, bool) \
                or not math.isfinite(value) or value < minimum:
            raise ValueError(wanted)
        return float(value)

    return parse


def choice(*allowed: str) -> Callable[[Any], str]:
    """A parser for one word of ``allowed``."""
    def parse(value: Any) -> str:
        if _line(value) not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    return parse


def email(value: Any) -> str:
    """An email address in its normal form (syntax only, no DNS), or "" for none."""
    value = text(254)(value)
    return _normal_email(value) if value else ""


@functools.lru_cache(maxsize=256)
def _normal_email(value: str) -> str:
    # Remembered: a sites file of thousands of domains names the same few owners'
    # addresses again and again, and email-validator takes ~0.1 ms per address. A few
    # hundred: 4,096 held ~1.3 MB in every app process of a 10,000-owner install.
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from None


_DOMAIN = re.compile(r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
                     r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE)


def domain(value: Any) -> str:
    """A domain name in ASCII (IDNA) form, lower case, without a final dot; "" for none."""
    value = text(254)(value).rstrip(".").lower()
    if value and not _DOMAIN.fullmatch(value):
        raise ValueError("must be a domain name, like bounces.example.com")
    return value


def private_email(value: Any) -> str:
    """An address whose domain may be a special-use one (pki@corp.local: the ACME
    account's contact at a private CA), which ``email`` refuses; "" for none."""
    value = text(254)(value)
    if not value:
        return ""
    local, at, domain = value.rpartition("@")
    if not at:
        return email(value)  # refused, in the same words
    if not _DOMAIN.fullmatch(domain):
        raise ValueError("not a valid email address: the part after the @-sign must be "
                         "a domain name")
    local = email(f"{local}@example.com").rpartition("@")[0]  # the same rules before the @
    return f"{local}@{domain.lower()}"


# -- per-site kinds ------------------------------------------------------------------

_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_LANG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
# Same-origin paths only: a logo must never make a visitor contact a third party.
_LOCAL_PATH = re.compile(r"/(?!/)[A-Za-z0-9/._~%+-]{0,500}")


def names(each: int = 80, most: int = 20) -> Callable[[Any], tuple[str, ...]]:
    """A parser for a list of distinct names: a list, a JSON array or comma-separated text."""
    one = text(each)

    def parse(value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = value.strip()
            # nginx params are strings: a JSON array, or a comma-separated list.
            if value.startswith("["):
                try:
                    value = json.loads(value)
                except json.JSONDecodeError:
                    raise ValueError("must be a JSON array of strings or comma-separated") \
                        from None
            else:
                value = [part for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple):
            raise ValueError("must be a list of strings")
        items = tuple(one(item) for item in value)
        if any(not item for item in items):
            raise ValueError("must not contain empty names")
        if len(set(items)) != len(items):
            raise ValueError("must not repeat a name")
        if len(items) > most:
            raise ValueError(f"must have at most {most} entries")
        return items

    return parse


def colour(value: Any) -> str:
    value = text(7)(value)
    if not _COLOUR.fullmatch(value):
        raise ValueError("must be a colour like #2a6df4")
    return value.lower()


def language(value: Any) -> str:
    value = text(35)(value)
    if not _LANG.fullmatch(value):
        raise ValueError("must be a language tag like en or pt-BR")
    return value


def local_path(value: Any) -> str:
    """A path on the site itself (never another origin), or "" for none."""
    value = text(500)(value)
    if value and not _LOCAL_PATH.fullmatch(value):
        raise ValueError("must be a path on the site itself, like /assets/logo.png")
    if value:
        try:  # the same check as asset keys: no "..", ".", "//" or encoded tricks
            safe_url_path(value)
        except (UnsafePath, UnicodeDecodeError):
            raise ValueError("must be a plain path on the site itself, without '.' or '..' "
                             "parts, like /assets/logo.png") from None
    return value


# -- install kinds -------------------------------------------------------------------

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
port = whole(1, 65535)


def bucket(value: Any) -> str:
    if not _BUCKET.fullmatch(_line(value)) or ".." in value:
        raise ValueError("must be an S3 bucket name: 3-63 of a-z, 0-9, '.', '-'")
    return value


def key_prefix(value: Any) -> str:
    """A key prefix like "assets/": no leading slash, no "." or "..", always ends in "/"."""
    value = _line(value)
    try:
        safe_relative_path(value.rstrip("/"))  # the one check for paths that must not climb
    except UnsafePath:
        raise ValueError("must be a relative key prefix of letters, digits, '._-/' "
                         "without '.' or '..' parts") from None
    if not re.fullmatch(r"[A-Za-z0-9._/-]+", value):
        raise ValueError("must be a relative key prefix of letters, digits, '._-/'")
    return value.rstrip("/") + "/"


def http_url(value: Any) -> str:
    """A plain http(s)://host[:port] URL, without a trailing slash."""
    value = _line(value)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query \
            or parts.fragment or parts.username or any(c in value for c in ' "$;{}'):
        raise ValueError("must be a plain http(s)://host[:port] URL")
    return value.rstrip("/")


def https_url_or_empty(value: Any) -> str:
    """An https:// URL, or "" (the feature is off)."""
    if _line(value) == "":
        return ""
    url = http_url(value)
    if not url.startswith("https://"):
        raise ValueError("must be an https:// URL (or empty: off)")
    return url


def redis_url(value: Any) -> str:
    value = _line(value)
    if urlsplit(value).scheme not in ("redis", "rediss", "unix") or " " in value:
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return value


def imaps_url(value: Any) -> str:
    """imaps://user:password@host[:port][/MAILBOX]: a mailbox read over TLS only.

    The reasons never quote the value: it holds a password.
    """
    value = _line(value).strip()
    if not value:
        return ""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError("must be imaps://user:password@host:993/INBOX") from None
    if parts.scheme != "imaps":
        raise ValueError("must be an imaps:// URL (IMAP over TLS; a plain imap:// would "
                         "send the password in clear)")
    if not parts.hostname or not parts.username or parts.password is None:
        raise ValueError("must name a user, a password and a host: "
                         "imaps://user:password@host:993/INBOX")
    if port == 0 or parts.query or parts.fragment:
        raise ValueError("must be imaps://user:password@host:993/INBOX (no query)")
    return value


# A rate limit as the limits library writes it ("6/minute", "100 per 2 hours"), several
# joined by , ; or |. The same pattern as limits.util.EXPR (its ":?" included), so that
# checking a setting needs no import of limits (~0.1-0.2 s of every CLI command's start);
# the app's limiter builds its items from parse_rates too (ratelimit._parsed).
_ONE_RATE = r"\s*([0-9]+)\s*(?:/|\s*per\s*)\s*([0-9]+)?\s*([a-z]+)\s*"
_RATES = re.compile(rf"{_ONE_RATE}(?::?[,;|]{_ONE_RATE})*", re.IGNORECASE)
# Seconds per unit, as the limits library counts them (a month is 30 days, a year 12 months).
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400,
                 "month": 30 * 86400, "year": 12 * 30 * 86400}
_RATE_UNITS = tuple(_UNIT_SECONDS)


def parse_rates(value: str) -> list[tuple[int, int, str]]:
    """(amount, multiples, unit) per rate in ``value``: "6/minute;50/2 days" gives
    [(6, 1, "minute"), (50, 2, "day")]. ValueError if any part is not a rate."""
    if not isinstance(value, str) or not _RATES.fullmatch(value):
        raise ValueError("not a rate")
    found = []
    for part in re.split(r"[,;|]", value):
        match = re.match(_ONE_RATE, part, re.IGNORECASE)
        if match is None:
            continue
        amount, multiples, unit = match.groups()
        unit = unit.lower()
        if unit not in _RATE_UNITS and unit.endswith("s"):  # plurals: "2 per 3 hours"
            unit = unit[:-1]
        if unit not in _RATE_UNITS:
            raise ValueError(f"no such unit: {match.group(3)}")
        found.append((int(amount), int(multiples or 0) or 1, unit))
    return found


def rate_window(value: str) -> tuple[int, timedelta]:
    """The first rate in ``value`` as (amount, window): "300 per 3 hours" gives
    (300, 3 hours). ValueError if ``value`` is not a rate."""
    rates_found = parse_rates(value)
    if not rates_found:
        raise ValueError("not a rate")
    amount, multiples, unit = rates_found[0]
    return amount, timedelta(seconds=multiples * _UNIT_SECONDS[unit])


def rates(value: Any) -> str:
    """One or more rate limits, like "6/minute;50/day" (the limits library's syntax)."""
    value = _line(value)
    try:
        if parse_rates(value):
            return value
    except ValueError:
        pass
    raise ValueError("must be a rate like 6/minute or 100 per hour (several: 6/minute;50/day)")


def one_rate(value: Any) -> str:
    """One limit, like "300 per 3 hours" (a CA's limits are one window each)."""
    if ";" in _line(value) or "," in value:
        raise ValueError("must be one rate like 300 per 3 hours (not several)")
    return rates(value)


def networks(value: Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated IP addresses or networks."""
    try:
        return tuple(ipaddress.ip_network(part.strip()) for part in _line(value).split(",")
                     if part.strip())
    except ValueError:
        raise ValueError("must be IP addresses or networks, comma-separated, "
                         "like 127.0.0.1, 10.0.0.0/8") from None


def resolver(value: Any) -> str:
    """host:port or [v6]:port of a DNS resolver, by address (a name would need a resolver)."""
    host, sep, port_text = _line(value).rpartition(":")
    try:
        ipaddress.ip_address(host.strip("[]"))
        port(port_text)
    except ValueError:
        raise ValueError("must be a resolver's IP:port, like 127.0.0.1:53 or [::1]:53") \
            from None
    if not sep:
        raise ValueError("must be a resolver's IP:port, like 127.0.0.1:53 or [::1]:53")
    return value


def pem_file(value: Any) -> str:
    """An existing file, as an absolute path."""
    path = Path(_line(value))
    if not path.is_file():
        raise ValueError("must be an existing PEM file")
    return str(path.resolve())


def base64url(value: Any) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]+={0,2}", _line(value)):
        raise ValueError("must be base64url text (A-Z, a-z, 0-9, '-', '_', '=' at the end)")
    return value


# -- webhooks and the welcome mail ---------------------------------------------------

# IPv6 forms that carry an IPv4 address a router or the kernel may turn into it.
_EMBEDDING = tuple(ipaddress.ip_network(n) for n in (
    "64:ff9b::/96",   # NAT64, well-known prefix (RFC 6052)
    "64:ff9b:1::/48",  # NAT64, local use (RFC 8215)
    "::/96",          # IPv4-compatible (deprecated, still routed by some stacks)
))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    # "::" and "::1" are in ::/96 too: they are judged as themselves.
    if any(address in network for network in _EMBEDDING) and int(address) > 1:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refused_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why a webhook may not be sent to ``address`` (None: it may): only public unicast.

    Loopback, private, link-local (cloud metadata at 169.254.169.254), shared, reserved
    and multicast addresses reach this machine or its network, never a receiver.
    """
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:  # NAT64, 6to4, mapped, compatible: judged by the IPv4 inside
            return refused_address(inner)
        if address.is_site_local:
            return "a private or reserved address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private or not address.is_global:
        return "a private or reserved address"
    return None


def webhook_url(value: Any) -> str:
    """An https:// URL a webhook may be posted to.

    A literal IP address must be a public one (names are checked when they are
    resolved, at every delivery: see webhooks/send.py).
    """
    value = _line(value).strip()
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValueError(f"{value!r}: not a valid port") from None
    if parts.scheme != "https":
        raise ValueError(f"{value!r}: must be an https:// URL")
    if not parts.hostname or parts.username or parts.password or parts.fragment \
            or any(c in value for c in ' "<>\\^`{|}') or len(value) > 2000:
        raise ValueError(f"{value!r}: must be a plain https://host[:port]/path URL "
                         "(no user, no fragment, at most 2000 characters)")
    if not parts.hostname.isascii():
        raise ValueError(f"{value!r}: write the host name in its ASCII form (xn--...)")
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return value
    why = refused_address(literal)
    if why:
        raise ValueError(f"{value!r}: {parts.hostname} is {why}: webhooks go to public "
                         "addresses only")
    return value


def webhook_urls(value: Any) -> tuple[str, ...]:
    """Webhook URLs: a list (TOML), or text separated by commas or spaces (environment)."""
    if isinstance(value, str):
        value = [part for part in re.split(r"[,\s]+", _line(value)) if part]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of https:// URLs")
    if len(value) > 10:
        raise ValueError("at most 10 webhook URLs")
    return tuple(dict.fromkeys(webhook_url(v) for v in value))


def webhook_secret(value: Any) -> str:
    """A Standard Webhooks secret: ``whsec_`` and base64 of 24 to 64 random bytes."""
    import base64
    import binascii

    value = _line(value).strip()
    body = value.removeprefix("whsec_")
    try:
        key = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not value.startswith("whsec_") or not 24 <= len(key) <= 64:
        raise ValueError("must be whsec_ followed by base64 of 24 to 64 random bytes "
                         "(e.g. from: echo whsec_$(openssl rand -base64 32))")
    return value


def markdown_text(limit: int) -> Callable[[Any], str]:
    """Markdown: several lines (tabs and line breaks allowed, other controls not)."""
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        value = value.replace("\r\n", "\n").strip()
        found = CONTROL.search(value.replace("\n", "").replace("\t", ""))
        if found:
            raise ValueError(f"must not contain control characters "
                             f"(found U+{ord(found.group()):04X})")
        if len(value) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return value

    return parse
