"""How LANDING_* values travel in nginx config: percent-encoded, so no value can inject syntax.

nginx has no escape for ``$`` inside a string (it always starts a variable),
so generated maps carry values percent-encoded, and the generated config adds
``uwsgi_param LANDING_ENCODING url``. Hand-written seed-style params, without
that marker, are taken literally.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, unquote

ENCODING_KEY = "LANDING_ENCODING"
ENCODING_URL = "url"
# Kept readable in the config; everything else (quotes, backslash, $, ;, {, }, %, controls,
# non-ASCII) is encoded.
_SAFE = " ,.-_~@:/#!*()+=&?'[]"


def to_text(value: Any) -> str:
    """A parsed site value as the string an nginx param carries."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return json.dumps(list(value), ensure_ascii=False)
    return str(value)


def encode(value: Any) -> str:
    return quote(to_text(value), safe=_SAFE)


def decode(value: str) -> str:
    return unquote(value, errors="strict")
