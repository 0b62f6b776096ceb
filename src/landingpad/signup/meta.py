"""What crawlers, browsers and link previews ask a site for besides its pages.

``/robots.txt`` (LANDING_INDEX), ``/favicon.ico`` and ``/social.png`` (the picture
of a shared link when the site has no logo). The pictures are drawn here from the
site's accent colour, so every site has its own without an upload, and nothing
is ever fetched from a third party.
"""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache

from flask import Blueprint, Response, request
from PIL import Image, ImageDraw

from landingpad.sites import Site, current_site, require_public_site

bp = Blueprint("meta", __name__)
bp.before_request(require_public_site)

SOCIAL_SIZE = (1200, 630)  # the size Open Graph and Twitter cards show best
ICON_SIZES = ((16, 16), (32, 32), (48, 48))
ROBOTS_MAX_AGE = 300  # a changed LANDING_INDEX reaches crawlers within minutes
IMAGE_MAX_AGE = 86400  # an accent change shows within a day


def robots_txt(site: Site) -> str:
    """Allow everything, or (LANDING_INDEX = false) nothing."""
    rule = "Allow: /" if site.index else "Disallow: /"
    return f"User-agent: *\n{rule}\n"


def social_image_url(site: Site) -> str:
    """The path of a shared link's picture: the logo, unless it is one cards can't show."""
    if site.logo and not site.logo.lower().endswith(".svg"):
        return site.logo
    return "/social.png"


@lru_cache(maxsize=256)
def favicon_ico(accent: str) -> bytes:
    """A disc in the accent colour, at the sizes browsers ask for."""
    out = io.BytesIO()
    _disc(accent, 256).save(out, format="ICO", sizes=list(ICON_SIZES))
    return out.getvalue()


@lru_cache(maxsize=256)
def social_png(accent: str) -> bytes:
    """A 1200x630 picture in the page's own look: a white card with the accent colour on
    top and the favicon's disc in the middle, on the page's grey."""
    scale = 2  # drawn large, then shrunk: smooth edges without an anti-aliasing pass
    width, height = SOCIAL_SIZE[0] * scale, SOCIAL_SIZE[1] * scale
    image = Image.new("RGB", (width, height), "#f4f4f7")
    draw = ImageDraw.Draw(image)
    card = (200 * scale, 90 * scale, width - 200 * scale, height - 90 * scale)
    draw.rounded_rectangle(card, radius=24 * scale, fill=accent)
    draw.rounded_rectangle((card[0], card[1] + 18 * scale, card[2], card[3]),
                           radius=24 * scale, fill="#ffffff", corners=(False, False, True, True))
    cx, cy, radius = width // 2, (card[1] + 18 * scale + card[3]) // 2, 110 * scale
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=accent)
    out = io.BytesIO()
    image.resize(SOCIAL_SIZE, Image.Resampling.LANCZOS).save(out, format="PNG", optimize=True)
    return out.getvalue()


def _disc(colour: str, size: int) -> Image.Image:
    big = Image.new("RGBA", (size * 4, size * 4), (0, 0, 0, 0))
    ImageDraw.Draw(big).ellipse((4 * size // 16, 4 * size // 16, 4 * size * 15 // 16,
                                 4 * size * 15 // 16), fill=colour)
    return big.resize((size, size), Image.Resampling.LANCZOS)


def _cached(data: bytes, mimetype: str, max_age: int) -> Response:
    response = Response(data, mimetype=mimetype)
    response.set_etag(hashlib.blake2b(data, digest_size=12).hexdigest())
    response.cache_control.public = True
    response.cache_control.max_age = max_age
    return response.make_conditional(request)


@bp.get("/robots.txt")
def robots() -> Response:
    return _cached(robots_txt(current_site()).encode(), "text/plain", ROBOTS_MAX_AGE)


@bp.get("/favicon.ico")
def favicon() -> Response:
    return _cached(favicon_ico(current_site().accent), "image/x-icon", IMAGE_MAX_AGE)


@bp.get("/social.png")
def social() -> Response:
    return _cached(social_png(current_site().accent), "image/png", IMAGE_MAX_AGE)
