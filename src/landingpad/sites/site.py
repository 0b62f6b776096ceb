"""A Site and its LANDING_* settings: names, defaults and the checks each value must pass.

Values arrive either as strings (nginx ``uwsgi_param``, ``domain add`` options,
CSV cells) or as TOML values (the sites file); each parser (``landingpad.values``,
shared with the install's settings) accepts both and raises ValueError with a
short, human reason. Nothing here is trusted as HTML: templates escape it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from landingpad import values
from landingpad.sites import languages
from landingpad.sites.host import InvalidHost, normalize_host

DEFAULT_CONSENT = "I agree to get email about {title} when it launches."


def _domain(value: Any) -> str:
    # Here, not in landingpad.values: a site's name follows the sites package's host rules.
    try:
        return normalize_host(values.text(253)(value))
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
    SiteField("LANDING_TITLE", "title", values.text(200), None,
              "Page title (default: the domain)."),
    SiteField("LANDING_TAGLINE", "tagline", values.text(500),
              "Something new is on its way. Leave your email and we'll tell you when it launches.",
              "One line under the title."),
    SiteField("LANDING_EMAIL", "email", values.email, "",
              "Owner's contact address: shown as a contact link, Reply-To of announcements."),
    SiteField("LANDING_INTERESTS", "interests", values.names(80, 20), (),
              "Options offered as checkboxes (list; in nginx: JSON array or comma-separated)."),
    SiteField("LANDING_LOGO", "logo", values.local_path, "",
              "Logo path on the site, e.g. /assets/KEY."),
    SiteField("LANDING_ACCENT", "accent", values.colour, "#2a6df4",
              "Accent colour, #rgb or #rrggbb."),
    SiteField("LANDING_LANG", "lang", values.language, "en",
              "Language tag of the page (with LANDING_LANGS: the one shown when the browser "
              "asks for none of them)."),
    SiteField("LANDING_LANGS", "langs", languages.languages, (),
              "Languages the pages are offered in, chosen by the browser's Accept-Language "
              f"or a ?lang= link (list of {', '.join(languages.SHIPPED)}; "
              "default: LANDING_LANG alone)."),
    SiteField("LANDING_TEXT", "text", languages.texts, None,
              "The owner's words per language, by short name or message id "
              '(JSON here: {"de": {"button": "Sag mir Bescheid"}}).'),
    SiteField("LANDING_DOUBLE_OPTIN", "double_optin", values.flag, False,
              "Ask new sign-ups to confirm by email."),
    SiteField("LANDING_FROM", "sender", values.email, "",
              "Sender address of this site's emails (default: hello@<domain>)."),
    SiteField("LANDING_CONSENT", "consent", values.text(500), DEFAULT_CONSENT,
              "Consent text next to the checkbox; {title} is replaced. Its hash is its version."),
    SiteField("LANDING_INDEX", "index", values.flag, True,
              "Let search engines index the site (false: robots.txt disallows every path "
              "and pages carry a noindex tag)."),
    SiteField("LANDING_HSTS", "hsts", values.flag, False,
              "Send Strict-Transport-Security on this site's HTTPS responses. Off by default: "
              "browsers then refuse plain HTTP to the domain for a year, even after it is "
              "sold to someone who serves no HTTPS."),
    SiteField("LANDING_WELCOME", "welcome", values.markdown_text(20_000), "",
              "Welcome mail (Markdown), sent once to each new sign-up (after confirming, "
              "on a double opt-in site). Empty: none. Read from the sites file only."),
    SiteField("LANDING_WELCOME_SUBJECT", "welcome_subject", values.text(200), "",
              "The welcome mail's subject (default: Welcome to <title>)."),
)
FIELDS_BY_KEY = {f.key: f for f in SITE_FIELDS}
ENVIRON_KEYS = tuple(f.key for f in SITE_FIELDS)


def consent_version_of(text: str) -> str:
    """The version a consent sentence is stored under: its hash (the same text, one version,
    whether shown on a site or brought in by ``landingpad import``)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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
    langs: tuple[str, ...]
    text: languages.Texts | None
    double_optin: bool
    sender: str
    consent: str
    index: bool
    hsts: bool
    welcome: str
    welcome_subject: str
    consent_version: str = field(init=False)
    # The languages offered, the default first-chosen one, and the owner's words by
    # (language, message id): derived once, not compared.
    languages: tuple[str, ...] = field(init=False, compare=False)
    default_lang: str = field(init=False, compare=False)
    _texts: dict = field(init=False, repr=False, compare=False)
    # Computed once: a Site keys the page cache, looked up on every GET /.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "consent_version", consent_version_of(self.consent_text))
        offered = self.langs or (self.lang,)
        default = next((tag for tag in offered
                        if languages.primary(tag) == languages.primary(self.lang)), offered[0])
        object.__setattr__(self, "languages", offered)
        object.__setattr__(self, "default_lang", default)
        object.__setattr__(self, "_texts", {(lang, msgid): text for lang, pairs in self.text or ()
                                            for msgid, text in pairs})
        object.__setattr__(self, "_hash", hash(tuple(
            getattr(self, f.name) for f in fields(self) if f.compare)))

    def __hash__(self) -> int:
        return self._hash

    @property
    def consent_text(self) -> str:
        """The consent sentence exactly as shown; its hash is the stored version."""
        return self.consent.replace("{title}", self.title)

    @property
    def multilingual(self) -> bool:
        return len(self.languages) > 1

    def own_text(self, lang: str, msgid: str) -> str | None:
        """The owner's words for a message in a language (LANDING_TEXT), if any."""
        return self._texts.get((lang, msgid)) if self._texts else None

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
    attrs: dict[str, Any] = {}
    for f in SITE_FIELDS:
        for layer in layers:
            if f.key in layer:
                attrs[f.attr] = layer[f.key]
                break
        else:
            attrs[f.attr] = f.default
    attrs["domain"] = attrs["domain"] or host
    attrs["title"] = attrs["title"] or attrs["domain"]
    return Site(**attrs)


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
