"""What a log line may hold: never a client's address, never the secret part of a link.

Every log writer takes its rules from here: nginx's access log and the variables
it passes to uWSGI (deploy templates), uWSGI's own lines (deploy/uwsgi.py) and the
app's Python logging (:class:`RedactLinks`, installed by ``landingpad.wsgi``).
"""

from __future__ import annotations

import logging
import re

# Paths whose remainder is a secret: emailed links (whoever holds one acts on a
# sign-up) and the signed state of a browser-direct logo upload (it stands in for
# the session). Logs keep the prefix and show TOKEN_PLACEHOLDER for the rest.
# One PCRE-compatible pattern, used as is by nginx, uWSGI and Python; the prefix is
# group 1. A route with a secret in its path must be listed here (a test walks the
# URL maps to make sure).
SECRET_PREFIXES = (
    "/confirm/", "/unsubscribe/", "/privacy/data/", "/offer/confirm/",
    "/logos/[^/]+/direct/",
)
SECRET_PATH = "^(" + "|".join(SECRET_PREFIXES) + ")"
TOKEN_PLACEHOLDER = "<token>"  # noqa: S105 - what logs show instead of a token

# uWSGI logs the REMOTE_ADDR it is given (broken pipes, SIGPIPE, harakiri): it is
# given this instead, and the client's address travels in CLIENT_VAR, a variable
# only the server in front can set (request headers arrive as HTTP_*).
ADDRESS_PLACEHOLDER = "-"
CLIENT_VAR = "LANDINGPAD_CLIENT"

_secret_path = re.compile(SECRET_PATH)
# Anywhere in a message (a path, a full URL): the prefix, then the token up to a
# separator. Unanchored, so "https://host/confirm/abc" is caught too.
_secret_in_text = re.compile("(" + "|".join(p.replace("[^/]+", "[^/\\s]+")
                                            for p in SECRET_PREFIXES) + r")[^\s?#\"'<>]+")


def redact_path(path: str) -> str:
    """``path`` as a log may show it: a secret path's token replaced, anything else as is."""
    match = _secret_path.match(path)
    return match.group(1) + TOKEN_PLACEHOLDER if match else path


# An email address, as a database's error detail ("Key (site, email)=(x, a@b.c)
# already exists") or a library's message may quote it. Broad on purpose: a log
# line loses a little, never gains an address. (user:password@host in a URL too.)
_address_in_text = re.compile(r"(?:\"[^\"\n]*\"|[^\s@<>()\[\]\",;:]+)@[^\s@<>()\[\]\"',;]+")
ADDRESS_TEXT_PLACEHOLDER = "<address>"


def redact_text(text: str) -> str:
    """``text`` without link tokens or email addresses."""
    text = _secret_in_text.sub(lambda m: m.group(1) + TOKEN_PLACEHOLDER, text)
    return _address_in_text.sub(ADDRESS_TEXT_PLACEHOLDER, text)


class RedactLinks(logging.Filter):
    """A handler filter: link tokens and email addresses in a record's message or
    traceback are replaced.

    Flask logs "Exception on /confirm/<the token> [POST]" when an error handler
    fails; a library message may quote a URL. The record is rewritten in place, so
    every handler after this one sees the redacted text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format: the handler reports it, as without this filter
            return True
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


def redact_handlers(logger: logging.Logger | None = None) -> None:
    """Add :class:`RedactLinks` to every handler of ``logger`` (default: the root logger)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactLinks) for f in handler.filters):
            handler.addFilter(RedactLinks())
