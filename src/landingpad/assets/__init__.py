"""Uploaded assets (logos): stored locally or in S3, always served from the site's origin.

Under nginx, /assets/ never reaches the app (nginx serves the folder or proxies
the bucket); this route serves them for `landingpad serve` and any setup without
that location.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app
from werkzeug.exceptions import NotFound

from landingpad.assets.store import CACHE_CONTROL, AssetStore, is_key, make_store
from landingpad.public import exports

bp = Blueprint("assets", __name__)


def get_store(app: Flask | None = None) -> AssetStore:
    return (app or current_app).extensions["landingpad.assets"]


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


def init_app(app: Flask) -> None:
    app.extensions["landingpad.assets"] = make_store(app.config)
    app.register_blueprint(bp)

# The public names (landingpad.public): what other features may use.
PUBLIC = {
    "BadImage": "images",
    "PRESIGN_SECONDS": "store",
    "StoreError": "store",
    "incoming_key": "store",
    "Uploaded": "upload",
    "save_upload": "upload",
    "use_as_logo": "upload",
    "verify_direct_upload": "upload",
}
__getattr__ = exports(__name__, PUBLIC)
__all__ = list(PUBLIC)
