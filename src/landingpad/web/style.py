"""A site's accent colours as the page's one inline style, and that style's CSP hash."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from markupsafe import Markup

from landingpad.sites import Site


@lru_cache(maxsize=4096)
def site_style(site: Site) -> Markup:
    """The page's only inline CSS: the accent colours, from validated #rrggbb values."""
    # Safe: both values passed the #rgb/#rrggbb check in sites.site.
    return Markup(f":root{{--accent:{site.accent};--on-accent:{site.on_accent}}}")  # noqa: S704


@lru_cache(maxsize=4096)
def style_hash(site: Site) -> str:
    """CSP source for site_style, so the policy needs no 'unsafe-inline'."""
    digest = hashlib.sha256(str(site_style(site)).encode()).digest()
    return "sha256-" + base64.b64encode(digest).decode()
