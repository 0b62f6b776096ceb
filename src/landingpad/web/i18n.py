"""Every public page and visitor mail in the site's language (Flask-Babel).

The language of a request: a ``?lang=xx`` link the site offers, else the browser's
Accept-Language among the site's LANDING_LANGS, else its LANDING_LANG
(``sites.languages.choose``). It is chosen once per request and kept in ``g.lang``;
Flask-Babel reads it as its locale and keeps each catalogue loaded once per process.

A text is looked up in the owner's words first (LANDING_TEXT, by language and message
id), then in the catalogue. Templates call ``_()``; the result is escaped in HTML
templates like any other setting when it is the owner's (the catalogue's own texts hold
no markup characters, a test checks), and its ``%(name)s`` values are escaped going in.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from babel.dates import format_date, format_time, get_datetime_format
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from email_validator import EmailNotValidError, EmailUndeliverableError
from flask import Flask, g, has_request_context, request, url_for
from flask_babel import Babel, force_locale, get_locale, get_translations
from flask_babel import format_decimal as babel_decimal
from jinja2 import pass_eval_context
from markupsafe import Markup, escape

from landingpad.sites import Site, languages
from landingpad.sites.site import FIELDS_BY_KEY

log = logging.getLogger(__name__)


def N_(msgid: str) -> str:
    return msgid


# The site fields' built-in defaults, marked for the catalogue (a test keeps them equal).
DEFAULT_TAGLINE = N_("Something new is on its way. Leave your email and we'll tell you when "
                     "it launches.")
DEFAULT_CONSENT = N_("I agree to get email about {title} when it launches.")
assert FIELDS_BY_KEY["LANDING_TAGLINE"].default == DEFAULT_TAGLINE
assert FIELDS_BY_KEY["LANDING_CONSENT"].default == DEFAULT_CONSENT


def init_app(app: Flask) -> None:
    ensure_compiled(languages.TRANSLATIONS_DIR)
    Babel(app, locale_selector=lambda: languages.catalogue(current_lang()),
          default_translation_directories=str(languages.TRANSLATIONS_DIR),
          configure_jinja=False)


def configure_jinja(app: Flask) -> None:
    """The template helpers (the admin app has them too: its error pages are English)."""
    app.jinja_env.globals.update(
        _=_template_gettext, lang_url=lang_url, current_lang=current_lang,
        text_dir=text_dir, language_links=language_links, site_text=site_text,
        consent_text=lambda site: consent(site)[1], number=number)


# -- the .mo files ----------------------------------------------------------------------

def ensure_compiled(folder: Path) -> None:
    """Compile each catalogue whose .mo is missing or older than its .po.

    A wheel ships the .mo (setup.py compiles them at build); an editable install
    (``pip install -e``) reads the source tree, where they are made here on first
    start. Cheap when they are up to date: two stat calls per language.
    """
    for po in folder.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        try:
            if mo.exists() and mo.stat().st_mtime_ns >= po.stat().st_mtime_ns:
                continue
            compile_catalogue(po, mo)
        except OSError as exc:  # a read-only install: its shipped .mo, else English words
            if not mo.exists():
                log.warning("catalogue %s not compiled: %s", po, exc)


def compile_catalogue(po: Path, mo: Path) -> None:
    with po.open("rb") as handle:
        catalog = read_po(handle)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    # Beside the .po, renamed into place: a worker reading it never sees half a file.
    fd, temp = tempfile.mkstemp(dir=mo.parent, prefix=".messages-", suffix=".mo")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(buffer.getvalue())
        os.chmod(temp, 0o644)  # a catalogue is public text
        os.replace(temp, mo)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


# -- the request's language ------------------------------------------------------------------

def current_lang() -> str:
    """The language tag of this request (or mail); English where no site is known."""
    lang = g.get("lang")
    if lang is None:
        site = g.get("site")
        if site is None:
            lang = "en"
        elif site.multilingual and has_request_context():
            lang = choose(site, request.environ)
        else:
            lang = site.default_lang
        g.lang = lang
    return lang


# Every environ key choose() reads.
LANGUAGE_KEYS = ("QUERY_STRING", "HTTP_ACCEPT_LANGUAGE")


def choose(site: Site, environ: dict[str, Any]) -> str:
    """The language of a request for ``site``: a ?lang= it offers, else negotiated."""
    if not site.multilingual:
        return site.default_lang
    return (languages.query_lang(environ.get("QUERY_STRING", ""), site.languages)
            or languages.negotiate(environ.get("HTTP_ACCEPT_LANGUAGE"), site.languages,
                                   site.default_lang))


@contextmanager
def use_language(site: Site, lang: str) -> Iterator[None]:
    """Render a mail (after the response, in the CLI) in the visitor's language."""
    before = g.get("site"), g.get("lang")
    g.site, g.lang = site, lang
    try:
        with force_locale(languages.catalogue(lang)):
            yield
    finally:
        g.site, g.lang = before


def text_dir(lang: str | None = None) -> str:
    return "rtl" if languages.is_rtl(lang or current_lang()) else "ltr"


# -- texts -------------------------------------------------------------------------------------

def _lookup(msgid: str) -> tuple[str, bool]:
    """The text for ``msgid`` and whether it is the owner's (LANDING_TEXT) or ours."""
    site = g.get("site")
    own = site.own_text(current_lang(), msgid) if site is not None else None
    if own is not None:
        return own, True
    return get_translations().ugettext(msgid), False


def gettext(msgid: str, **variables: Any) -> str:
    """The owner's words for ``msgid`` in this language, else the catalogue's."""
    text = _lookup(msgid)[0]
    return text % variables if variables else text


class LazyText(str):
    """A message translated when it is shown (form labels and messages, built at import)."""

    __slots__ = ()

    def __str__(self) -> str:
        return gettext(str.__str__(self))

    def __html__(self) -> str:
        return str(escape(str(self)))

    def __mod__(self, values: Any) -> str:  # WTForms formats some messages
        return str(self) % values


def lazy_gettext(msgid: str) -> LazyText:
    return LazyText(msgid)


@pass_eval_context
def _template_gettext(eval_ctx: Any, msgid: str, **variables: Any) -> str:
    if not eval_ctx.autoescape:  # text mails
        return gettext(msgid, **variables)
    text, owned = _lookup(msgid)
    # The owner's words are escaped like every setting; the catalogue's are plain text
    # we ship (a test keeps markup characters out of them). Values are escaped going in.
    safe = escape(text) if owned else Markup(text)  # noqa: S704
    return safe % variables if variables else safe


def site_text(site: Site, name: str) -> str:
    """A site field in this language: the owner's LANDING_TEXT, else the field; a field
    left at its built-in default is translated."""
    lang = current_lang()
    own = site.own_text(lang, name)
    if own is not None:
        return own
    if name == "title":
        return site.title
    if name == "tagline":
        if site.tagline == DEFAULT_TAGLINE:
            return gettext(DEFAULT_TAGLINE)
        return site.tagline
    raise KeyError(name)


def consent(site: Site) -> tuple[str, str]:
    """The consent sentence shown in this request's language, and its version.

    LANDING_TEXT's ``consent`` for the language, else LANDING_CONSENT, which is in the
    site's default language (the built-in sentence is translated; other languages of a
    site with several read it translated too). The version is a hash of the language
    and the exact text, so a stored sign-up names the sentence the visitor read, in the
    language they read it in. A site in its one language keeps its old version.
    """
    lang = current_lang()
    own = site.own_text(lang, "consent")
    if own is not None:
        sentence = own
    elif site.consent == DEFAULT_CONSENT or lang != site.default_lang:
        sentence = gettext(DEFAULT_CONSENT)
    else:
        sentence = site.consent
    text = sentence.replace("{title}", site_text(site, "title"))
    if text == site.consent_text and lang == site.lang:
        return site.consent_version, text
    return consent_version(lang, text), text


def consent_version(lang: str, text: str) -> str:
    import hashlib

    return hashlib.sha256(f"{lang}\n{text}".encode()).hexdigest()[:16]


def lang_url(endpoint: str, **values: Any) -> str:
    """url_for, keeping the page's language on a site that offers several."""
    site = g.get("site")
    if site is not None and site.multilingual:
        values.setdefault("lang", current_lang())
    return url_for(endpoint, **values)


def language_links(site: Site, path: str | None = None) -> list[tuple[str, str, str]]:
    """(tag, name in its own language, URL) of the site's other languages."""
    here = current_lang()
    if path is None:
        path = request.path if has_request_context() else "/"
    # The path is the visitor's (a 404 page's too): "//evil.example" or "/\\evil.example"
    # would make the link leave the site. One leading slash, and the rest quoted.
    path = "/" + quote(path.lstrip("/\\"), safe="/")
    return [(tag, native_name(tag), f"{path}?lang={tag}")
            for tag in site.languages if tag != here]


def native_name(tag: str) -> str:
    from babel import Locale

    try:
        name = Locale.parse(tag.replace("-", "_")).get_display_name() or tag
    except (ValueError, TypeError):
        return tag
    return name[:1].upper() + name[1:]


def when(moment: datetime) -> str:
    """A date and time (UTC, to the minute) in this language's own form."""
    if languages.catalogue(current_lang()) == "en":
        return moment.strftime("%-d %B %Y, %H:%M UTC")  # as before (the admin area too)
    locale = get_locale()
    date = format_date(moment, "long", locale=locale)
    time = format_time(moment, "short", tzinfo=UTC, locale=locale)
    return get_datetime_format("medium", locale=locale).format(time, date) + " UTC"


def number(value: float) -> str:
    return babel_decimal(value)


# -- email addresses: email-validator words its errors in English -------------------------

def email_problem(exc: EmailNotValidError) -> str:
    """A translated reason an address was refused, by the kind of failure."""
    reason = str(exc)
    if isinstance(exc, EmailUndeliverableError):
        return gettext("The domain of this address does not receive email.")
    if "longer than" in reason or "too long" in reason:
        return gettext("This address is too long.")
    if "character" in reason or "letter" in reason:
        return gettext("This address contains a character that isn't allowed.")
    if "after the @" in reason or "domain" in reason or "period" in reason:
        return gettext("The part after the @ sign is not a valid domain name.")
    if "@" in reason:
        return gettext("An email address has one @ sign, like name@example.com.")
    return gettext("This is not a valid email address. Please check it.")
