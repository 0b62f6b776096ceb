"""Checks every public form post passes first: same-site only, a small, clean HTML form body."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from flask import request
from werkzeug.exceptions import BadRequest, Forbidden, UnsupportedMediaType

from landingpad.sites.host import InvalidHost, normalize_host
from landingpad.web.i18n import gettext, lazy_gettext

MAX_FIELDS = 64  # the forms have a handful; thousands of repeated fields are refused early
FORBIDDEN_CHARS = ("\r", "\n", "\x00")
CROSS_SITE = lazy_gettext("This form is accepted only from this site's own pages.")


def refuse_cross_site() -> None:
    """403 for a post another site made a browser send (Fetch metadata, then Origin)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        raise Forbidden(CROSS_SITE)
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        # No Origin: old browsers and non-browser clients. "null": what browsers send
        # for a form post under our own Referrer-Policy: no-referrer (Fetch spec), so
        # Sec-Fetch-Site above has decided when present; the form token still applies.
        return
    try:
        origin_host = normalize_host(urlsplit(origin).netloc)
        same = origin_host == normalize_host(request.host)
    except (InvalidHost, ValueError):
        same = False
    if not same:
        raise Forbidden(CROSS_SITE)


def refuse_cross_site_posts() -> None:
    """A blueprint hook: every POST of the blueprint is same-site only.

    Not for /unsubscribe: RFC 8058 one-click POSTs come from mail providers,
    and its never-expiring signed token is the authority there.
    """
    if request.method == "POST":
        refuse_cross_site()


def check_form_body() -> str | None:
    """Refuse bodies the form parser would silently mangle; return a message or None."""
    return read_form_body()[0]


def read_form_body() -> tuple[str | None, list[tuple[str, str]]]:
    """:func:`check_form_body`'s message (or None) and the fields it parsed, in order.

    The sign-up's hot path reads its fields from here instead of parsing the body
    a second time (Werkzeug's form parser decodes a checked body the same way).
    """
    if request.mimetype != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType(gettext("The form must be sent as a normal HTML form."))
    body = request.get_data(cache=True)  # 413 past MAX_FORM_BYTES, raised by Werkzeug
    try:
        fields = parse_qsl(body.decode("ascii"), keep_blank_values=True, encoding="utf-8",
                           errors="strict", max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        return gettext("The form data is not valid UTF-8 text."), []
    except ValueError:
        raise BadRequest(gettext("Too many form fields.")) from None
    if any(ch in value for _, value in fields for ch in FORBIDDEN_CHARS):
        return gettext("Line breaks and NUL characters are not allowed in the form."), []
    return None, fields
