"""Sites: which domain a request is for and its settings.

Flask is imported by the request helpers when they first run, not here: `domain add`
and the other commands that only read the sites file don't pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from landingpad.sites.host import InvalidHost, check_request_host, request_host_name
from landingpad.sites.registry import REQUEST_KEYS, SiteRegistry, request_host
from landingpad.sites.site import Site

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["REQUEST_KEYS", "Site", "SiteRegistry", "current_site", "get_registry", "init_app",
           "refuse_non_ascii_host", "require_public_site"]


def init_app(app: Flask) -> None:
    app.extensions["landingpad.sites"] = SiteRegistry(
        app.config["SITES"],
        check_seconds=app.config["SITES_CHECK_SECONDS"],
    )
    app.before_request(refuse_non_ascii_host)  # every route, a 404 one included


def refuse_non_ascii_host() -> None:
    """400 for a raw Host that is not ASCII, before anything could IDNA-map it to a name."""
    from flask import request
    from werkzeug.exceptions import BadRequest

    try:
        check_request_host(request_host(request.environ))
    except InvalidHost as exc:
        raise BadRequest(f"The host name of this request is not valid ({exc}).") from None


def get_registry(app: Flask | None = None) -> SiteRegistry:
    from flask import current_app

    return (app or current_app).extensions["landingpad.sites"]


def current_site() -> Site:
    """The Site of the current request; 400 for a garbage host, 404 for an unknown one."""
    from flask import g, request
    from werkzeug.exceptions import BadRequest, NotFound

    site = g.get("site")
    if site is None:
        try:
            site = get_registry().resolve(request.environ)
        except InvalidHost as exc:
            raise BadRequest(f"The host name of this request is not valid ({exc}).") from None
        if site is None:
            raise NotFound("No site is configured for this domain.")
        g.site = site
    return site


def require_public_site() -> None:
    """``before_request`` of every public blueprint.

    The admin host never serves public pages; the site is resolved before
    anything else runs (400/404 early), and public bodies are kept small.
    """
    from flask import current_app, request
    from werkzeug.exceptions import NotFound

    admin_host = current_app.config["ADMIN_HOST"]
    if admin_host and _names_host(admin_host):
        raise NotFound()
    current_site()
    request.max_content_length = current_app.config["MAX_FORM_BYTES"]


def _names_host(host: str) -> bool:
    """Whether the request's Host is ``host`` in any spelling that normalises to it."""
    from flask import request

    try:
        return request_host_name(request.host) == host
    except InvalidHost:
        return False  # not a host name at all: current_site() answers 400
