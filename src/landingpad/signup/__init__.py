"""The public landing page and sign-up form."""

from __future__ import annotations

from flask import Flask

from landingpad.public import exports
from landingpad.signup import meta
from landingpad.signup.pages import LandingFastPath, PageCache
from landingpad.signup.tokens import FormTokens
from landingpad.signup.views import bp


def init_app(app: Flask) -> None:
    tokens = FormTokens(app.config["SECRET_KEY"], app.config["MIN_FILL_SECONDS"],
                        app.config["FORM_MAX_AGE"])
    pages = PageCache(app.config["PAGE_CACHE_SIZE"], len(tokens.issue("example.com")))
    app.extensions["landingpad.tokens"] = tokens
    app.extensions["landingpad.pages"] = pages
    app.register_blueprint(bp)
    app.register_blueprint(meta.bp)
    app.jinja_env.globals["social_image_url"] = meta.social_image_url  # base.html's head
    app.wsgi_app = LandingFastPath(app.wsgi_app, app.extensions["landingpad.sites"], pages,
                                   tokens, admin_host=app.config["ADMIN_HOST"])

# What other features may use (landingpad.public): inner module -> names.
__getattr__, __all__ = exports(__name__, {
    "export": "iter_csv",
})
