"""Uploaded assets (logos): stored locally or in S3, always served from the site's origin."""

from __future__ import annotations

from flask import Flask

from landingpad.assets import views
from landingpad.assets.store import make_store
from landingpad.public import exports


def init_app(app: Flask) -> None:
    app.extensions["landingpad.assets"] = make_store(app.config)
    app.register_blueprint(views.bp)

# The public names (landingpad.public): what other features may use.
PUBLIC = {
    "bp": "views",
    "get_store": "store",
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
