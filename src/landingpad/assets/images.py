"""What an uploaded logo really is, judged by its content, never by its name."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from landingpad.assets.store import CONTENT_TYPES

# Pillow's format name -> the extension (store.CONTENT_TYPES gives its type).
FORMATS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "WEBP": "webp"}
ALLOWED = "PNG, JPEG, GIF or WebP"


class BadImage(ValueError):
    """The upload is not an image we accept; the message says why, for the uploader."""


@dataclass(frozen=True)
class ImageInfo:
    extension: str
    content_type: str
    width: int
    height: int


def check_image(data: bytes, max_bytes: int, max_pixels: int) -> ImageInfo:
    """Accept a PNG, JPEG, GIF or WebP within the limits, or raise BadImage."""
    if not data:
        raise BadImage("The file is empty.")
    if len(data) > max_bytes:
        raise BadImage(f"The file is larger than the limit of {max_bytes:,} bytes.")
    try:
        with warnings.catch_warnings():
            # Pillow warns, then raises, past its own bomb limit: ours comes first.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as image:
                kind, (width, height) = image.format, image.size
                if width * height > max_pixels:
                    raise BadImage(f"The image is {width} x {height} pixels; the limit is "
                                   f"{max_pixels:,} pixels in all.")
                image.verify()  # a truncated or corrupt file fails here
    except BadImage:
        raise
    except Image.DecompressionBombError:
        raise BadImage(f"The image has far too many pixels; the limit is {max_pixels:,}.") \
            from None
    except UnidentifiedImageError:
        raise BadImage(f"This is not a {ALLOWED} image (SVG is not accepted).") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise BadImage(f"The image is damaged or incomplete ({exc}).") from None
    extension = FORMATS[kind]
    return ImageInfo(extension, CONTENT_TYPES[extension], width, height)
