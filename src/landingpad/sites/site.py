"""A Site and its LANDING_* settings: names, defaults and the checks each value must pass.

Values arrive either as strings (nginx ``uwsgi_param``) or as TOML values
(the sites file); each parser accepts both and raises ValueError with a
short, human reason. Nothing here is trusted as HTML: templates escape it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from email_validator import EmailNotValidError, validate_email

from landingpad.files import UnsafePath, safe_url_path
from landingpad.sites.host import InvalidHost, normalize_host

# Control characters (C0, DEL, C1 with NEL U+0085) and Unicode's line and paragraph
# separators: each is a line break to some reader (str.splitlines, mail clients, logs).
# Lone surrogates can't even be written as UTF-8.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_LANG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
# Same-origin paths only: a logo must never make a visitor contact a third party.
_LOCAL_PATH = re.compile(r"^/(?!/)[A-Za-z0-9/._~%+-]{0,500}$")

DEFAULT_CONSENT = "I agree to get email about {title} when it launches."


def _text(limit: int) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        value = value.strip()
        found = _CONTROL.search(value)
        if found:
            raise ValueError("must not contain control characters or line breaks "
                             f"(found U+{ord(found.group()):04X})")
        if len(value) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return value

    return parse


def _email(value: Any) -> str:
    value = _text(254)(value)
    if not value:
        return ""
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from None


def _interests(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.strip()
        # nginx params are strings: a JSON array, or a comma-separated list.
        if value.startswith("["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("must be a JSON array of strings or comma-separated") from None
        else:
            value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        raise ValueError("must be a list of strings")
    items = tuple(_text(80)(item) for item in value)
    if any(not item for item in items):
        raise ValueError("must not contain empty names")
    if len(set(items)) != len(items):
        raise ValueError("must not repeat a name")
    if len(items) > 20:
        raise ValueError("must have at most 20 entries")
    return items


def _colour(value: Any) -> str:
    value = _text(7)(value)
    if not _COLOUR.match(value):
        raise ValueError("must be a colour like #2a6df4")
    return value.lower()


def _lang(value: Any) -> str:
    value = _text(35)(value)
    if not _LANG.match(value):
        raise ValueError("must be a language tag like en or pt-BR")
    return value


def _logo(value: Any) -> str:
    value = _text(500)(value)
    if value and not _LOCAL_PATH.match(value):
        raise ValueError("must be a path on the site itself, like /assets/logo.png")
    if value:
        try:  # the same check as asset keys: no "..", ".", "//" or encoded tricks
            safe_url_path(value)
        except (UnsafePath, UnicodeDecodeError):
            raise ValueError("must be a plain path on the site itself, without '.' or '..' "
                             "parts, like /assets/logo.png") from None
    return value


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be true or false")


def _domain(value: Any) -> str:
    try:
        return normalize_host(_text(253)(value))
    except InvalidHost as exc:
        raise ValueError(f"not a valid domain name: {exc}") from None


@dataclass(frozen=True)
class SiteField:
    key: str  # the name in nginx params and the sites file
    attr: str
    parse: Callable[[Any], Any]
    default: Any
    help: str


SITE_FIELDS: tuple[SiteField, ...] = (
    SiteField("LANDING_DOMAIN", "domain", _domain, None,
              "Canonical domain the sign-ups are filed under (default: the host)."),
    SiteField("LANDING_TITLE", "title", _text(200), None, "Page title (default: the domain)."),
    SiteField("LANDING_TAGLINE", "tagline", _text(500),
              "Something new is on its way. Leave your email and we'll tell you when it launches.",
              "One line under the title."),
    SiteField("LANDING_EMAIL", "email", _email, "",
              "Owner's contact address: shown as a contact link, Reply-To of announcements."),
    SiteField("LANDING_INTERESTS", "interests", _interests, (),
              "Options offered as checkboxes (list; in nginx: JSON array or comma-separated)."),
    SiteField("LANDING_LOGO", "logo", _logo, "", "Logo path on the site, e.g. /assets/KEY."),
    SiteField("LANDING_ACCENT", "accent", _colour, "#2a6df4", "Accent colour, #rgb or #rrggbb."),
    SiteField("LANDING_LANG", "lang", _lang, "en", "Language tag of the page."),
    SiteField("LANDING_DOUBLE_OPTIN", "double_optin", _bool, False,
              "Ask new sign-ups to confirm by email."),
    SiteField("LANDING_FROM", "sender", _email, "",
              "Sender address of this site's emails (default: hello@<domain>)."),
    SiteField("LANDING_CONSENT", "consent", _text(500), DEFAULT_CONSENT,
              "Consent text next to the checkbox; {title} is replaced. Its hash is its version."),
    SiteField("LANDING_INDEX", "index", _bool, True,
              "Let search engines index the site (false: robots.txt disallows every path "
              "and pages carry a noindex tag)."),
    SiteField("LANDING_HSTS", "hsts", _bool, False,
              "Send Strict-Transport-Security on this site's HTTPS responses. Off by default: "
              "browsers then refuse plain HTTP to the domain for a year, even after it is "
              "sold to someone who serves no HTTPS."),
)
FIELDS_BY_KEY = {f.key: f for f in SITE_FIELDS}
ENVIRON_KEYS = tuple(f.key for f in SITE_FIELDS)


def parse_value(key: str, value: Any) -> Any:
    """Parse one LANDING_* value; KeyError for an unknown key, ValueError for a bad value."""
    return FIELDS_BY_KEY[key].parse(value)


@dataclass(frozen=True, slots=True)
class Site:
    """Everything that shapes one domain's pages. Frozen and hashable: it keys caches."""

    domain: str
    title: str
    tagline: str
    email: str
    interests: tuple[str, ...]
    logo: str
    accent: str
    lang: str
    double_optin: bool
    sender: str
    consent: str
    index: bool
    hsts: bool
    consent_version: str = field(init=False)
    # Computed once: a Site keys the page cache, looked up on every GET /.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha256(self.consent_text.encode()).hexdigest()[:16]
        object.__setattr__(self, "consent_version", digest)
        object.__setattr__(self, "_hash", hash(tuple(
            getattr(self, f.name) for f in fields(self) if f.compare)))

    def __hash__(self) -> int:
        return self._hash

    @property
    def consent_text(self) -> str:
        """The consent sentence exactly as shown; its hash is the stored version."""
        return self.consent.replace("{title}", self.title)

    @property
    def from_address(self) -> str:
        return self.sender or f"hello@{self.domain}"

    @property
    def on_accent(self) -> str:
        """Black or white, whichever reads better on the accent colour (WCAG contrast)."""
        return "#000000" if contrast(self.accent, "#000000") >= contrast(self.accent, "#ffffff") \
            else "#ffffff"


def build_site(host: str, layers: list[Mapping[str, Any]]) -> Site:
    """Merge parsed layers, highest precedence first, over the built-in defaults."""
    values: dict[str, Any] = {}
    for f in SITE_FIELDS:
        for layer in layers:
            if f.key in layer:
                values[f.attr] = layer[f.key]
                break
        else:
            values[f.attr] = f.default
    values["domain"] = values["domain"] or host
    values["title"] = values["title"] or values["domain"]
    return Site(**values)


def _luminance(colour: str) -> float:
    hexes = colour.lstrip("#")
    if len(hexes) == 3:
        hexes = "".join(c * 2 for c in hexes)
    channels = [int(hexes[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two #rgb/#rrggbb colours."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)
