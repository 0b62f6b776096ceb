"""Uploaded assets (logos): stored locally or in S3, always served from the site's origin."""

from __future__ import annotations

from flask import Flask

from landingpad.assets import views
from landingpad.assets.store import make_store
from landingpad.public import exports


def init_app(app: Flask) -> None:
    app.extensions["landingpad.assets"] = make_store(app.config)
    app.register_blueprint(views.bp)

# What other features may use (landingpad.public): inner module -> names.
__getattr__, __all__ = exports(__name__, {
    "views": "bp",
    "store": "get_store PRESIGN_SECONDS StoreError incoming_key",
    "images": "BadImage",
    "upload": "Uploaded save_upload use_as_logo verify_direct_upload",
})
