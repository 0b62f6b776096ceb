"""The languages landingpad ships, Accept-Language negotiation, and the owner's own words.

Pure functions, no Flask or Babel: the sites file is checked with them by ``domain add``
and the fast path negotiates with them on every ``GET /`` of a site with several
languages (cached: a browser sends one of a few hundred distinct headers).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from landingpad import values

# The catalogues in landingpad/translations/ (tests check each is complete).
SHIPPED = ("en", "de", "fr", "es", "it", "nl", "pt", "pl", "ja", "ar")
RTL = frozenset({"ar", "he", "fa", "ur"})  # written right to left (primary subtags)
TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"

# Short names for the texts owners change most, beside any message id of the catalogue.
SHORT_NAMES = {
    "title": "",    # the site's LANDING_TITLE, in this language
    "tagline": "",  # the site's LANDING_TAGLINE, in this language
    "consent": "",  # the site's LANDING_CONSENT, in this language ({title} is replaced)
    "button": "Notify me",
    "email_label": "Your email address",
    "interests_label": "What interests you? (optional)",
    "thanks_heading": "Thank you!",
    "thanks": "You're on the list. We'll email you when %(title)s launches, "
              "and never for anything else.",
    "thanks_confirm": "Please check your inbox: we sent you a link to confirm your address. "
                      "Until you confirm, we won't email you.",
    "privacy_intro": "%(title)s collects only what it needs to tell you when it launches.",
    "privacy_why": "To send you the launch announcement you asked for. "
                   "Your address is never sold or shared.",
    "confirmed": "We'll email you when %(title)s launches.",
    "unsubscribed": "%(title)s won't email you again.",
}
SITE_TEXTS = ("title", "tagline", "consent")  # the short names that stand for a site field

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_ENTRY = re.compile(r"\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([0-9.]{1,5}))?\s*")


def primary(tag: str) -> str:
    """``pt-BR`` -> ``pt``: catalogues and negotiation go by the primary subtag."""
    return tag.split("-", 1)[0].lower()


def catalogue(tag: str) -> str:
    """The shipped catalogue a language tag reads from (English when none is shipped)."""
    lang = primary(tag)
    return lang if lang in SHIPPED else "en"


def is_rtl(tag: str) -> bool:
    return primary(tag) in RTL


@lru_cache(maxsize=2048)
def negotiate(header: str | None, offered: tuple[str, ...], default: str) -> str:
    """The offered language a browser's Accept-Language prefers, else ``default``.

    Matches primary subtags only (de-AT asks for de), highest q first, ties in the
    header's order; q=0 refuses. nginx's micro-cache keys on the header reduced to
    exactly these parts (primary subtags and q-values, in order), so two headers
    it files under one key always get the same answer here.
    """
    if not header or len(offered) < 2:
        return default
    by_primary = {primary(tag): tag for tag in offered}
    best, best_q = None, 0.0
    for part in header.split(",")[:32]:
        match = _ENTRY.fullmatch(part)
        if match is None:
            continue
        try:
            q = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        tag = by_primary.get(match.group(1).lower())
        if tag is not None and q > best_q:
            best, best_q = tag, q
    return best or default


def query_lang(query_string: str, offered: tuple[str, ...]) -> str | None:
    """The language a ``?lang=xx`` link asks for, if the site offers it."""
    if "lang=" not in query_string:
        return None
    for part in query_string.split("&"):
        name, _, value = part.partition("=")
        if name == "lang" and value in offered:
            return value
    return None


# -- site fields ----------------------------------------------------------------------

def languages(value: Any) -> tuple[str, ...]:
    """LANDING_LANGS: shipped languages a page may be shown in (a list, JSON or a,b)."""
    items = values.names(35, len(SHIPPED))(value)
    for item in items:
        if item not in SHIPPED:
            raise ValueError(f"{item!r} is not a shipped language (shipped: {', '.join(SHIPPED)})")
    return items


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


@lru_cache(maxsize=1)
def known_messages() -> frozenset[str]:
    """Every message id of the catalogue template (read when a site overrides texts)."""
    text = (TRANSLATIONS_DIR / "messages.pot").read_text("utf-8")
    ids = set()
    for block in re.findall(r'^msgid ((?:".*"\n)+)', text, re.MULTILINE):
        ids.add("".join(json.loads(line) for line in block.splitlines()))
    ids.discard("")
    return frozenset(ids)


Texts = tuple[tuple[str, tuple[tuple[str, str], ...]], ...]


def texts(value: Any) -> Texts:
    """LANDING_TEXT: the owner's words per language, by short name or message id.

    A TOML table (``[sites."x".LANDING_TEXT.de] button = "..."``) or, from nginx or
    the command line, the same as a JSON object. Kept as text: templates escape it.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError:
            raise ValueError("must be a table of languages, each a table of texts "
                             '(JSON: {"de": {"button": "..."}})') from None
    if isinstance(value, list | tuple):  # its own parsed form, as nginx params carry it
        try:
            value = {lang: dict(pairs) for lang, pairs in value}
        except (TypeError, ValueError):
            raise ValueError("must be a table of languages, each a table of texts") from None
    if not isinstance(value, Mapping):
        raise ValueError("must be a table of languages, each a table of texts")
    result = []
    for lang, entries in value.items():
        try:
            lang = values.language(lang)
        except ValueError as exc:
            raise ValueError(f"{lang!r}: {exc}") from None
        if not isinstance(entries, Mapping):
            raise ValueError(f"{lang}: must be a table of texts (name = \"text\")")
        pairs = []
        for name, text in entries.items():
            if not isinstance(name, str):
                raise ValueError(f"{lang}: names must be text")
            msgid = SHORT_NAMES.get(name)
            if name in SITE_TEXTS:
                pass
            elif msgid is None:
                if name not in known_messages():
                    raise ValueError(f"{lang}.{name[:60]!r}: not a short name "
                                     f"({', '.join(SHORT_NAMES)}) nor a message of the "
                                     "catalogue")
                msgid = name
            text = values.text(2000)(text)
            if not text:
                raise ValueError(f"{lang}.{name}: must not be empty")
            if name in SITE_TEXTS:
                msgid = name  # a site field, kept under its short name
            elif placeholders(text) - placeholders(msgid):
                extra = ", ".join(sorted(placeholders(text) - placeholders(msgid)))
                raise ValueError(f"{lang}.{name}: uses a placeholder the text doesn't have: "
                                 f"{extra}")
            elif placeholders(msgid):
                try:
                    text % {key: "" for key in placeholders(msgid)}
                except (ValueError, TypeError, KeyError):
                    raise ValueError(f"{lang}.{name}: write a % sign as %% in this text "
                                     f"(its placeholders are %(name)s)") from None
            pairs.append((msgid, text))
        result.append((lang, tuple(pairs)))
    return tuple(result)


def texts_table(parsed: Texts) -> dict[str, dict[str, str]]:
    """LANDING_TEXT as the sites file writes it: a table per language, short names where
    a message has one (``domain add --text`` and imports)."""
    short = {msgid: name for name, msgid in SHORT_NAMES.items() if msgid}
    return {lang: {short.get(msgid, msgid): text for msgid, text in pairs}
            for lang, pairs in parsed}
