"""Serving uploaded assets from the site's origin.

Under nginx, /assets/ never reaches the app (nginx serves the folder or proxies
the bucket); this route serves them for `landingpad serve` and any setup without
that location.
"""

from __future__ import annotations

from flask import Blueprint, Response
from werkzeug.exceptions import NotFound

from landingpad.assets.store import CACHE_CONTROL, get_store, is_key

bp = Blueprint("assets", __name__)


@bp.get("/assets/<path:key>")
def serve(key: str) -> Response:
    # Werkzeug has decoded the path once (%2f is "/" by now): is_key refuses "..",
    # backslash, NUL and any "%" still left, so no key reaches outside the store.
    stored = get_store().open(key) if is_key(key) else None
    if stored is None:
        raise NotFound("No such file.")
    response = Response(stored.chunks(), content_type=stored.content_type,
                        direct_passthrough=True)
    response.content_length = stored.size or None
    response.headers["Cache-Control"] = CACHE_CONTROL
    # Defence in depth: even a file that slipped past the checks can't run script here.
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
