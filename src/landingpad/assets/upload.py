"""Taking an upload in, the seed's way or straight from the browser, and making it a logo.

Either way the bytes are judged by their content (images.check_image), stored
under a fresh uuid4 name with the true extension, and only then used; a bad
upload leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.utils import secure_filename

from landingpad.assets.images import BadImage, check_image
from landingpad.assets.store import (
    CONTENT_TYPES,
    INCOMING,
    AssetStore,
    BadKey,
    asset_url,
    check_key,
    new_key,
    read,
)
from landingpad.deploy import DomainManager
from landingpad.sites.edit import set_site_value

ALLOWED_EXTENSIONS = {*CONTENT_TYPES, "jpeg"}


@dataclass(frozen=True)
class Uploaded:
    original: str  # the cleaned file name, for the message
    key: str

    @property
    def url(self) -> str:
        return asset_url(self.key)

    @property
    def message(self) -> str:
        return f"{self.original} uploaded as {self.url}"


def clean_filename(filename: str) -> str:
    """The name as given, made safe to show (the seed's secure_filename), never refused for it.

    The name is only ever shown: the stored name is a uuid4 with the image's true
    extension. Folders (either slash) are dropped, the stem is cleaned, and what
    is left empty becomes "upload". Only an extension that is not an image's is
    refused, for what it says about the file, not for how it is spelt.
    """
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, extension = base.rpartition(".")
    if not dot:
        stem, extension = base, ""
    extension = extension.strip().lower()
    if extension not in ALLOWED_EXTENSIONS:
        raise BadImage("The file must end in .png, .jpg, .gif or .webp (SVG is not accepted).")
    return f"{secure_filename(stem) or 'upload'}.{extension}"


def limits(config: Mapping[str, Any]) -> tuple[int, int]:
    return config["ASSET_MAX_BYTES"], config["ASSET_MAX_PIXELS"]


def save_upload(store: AssetStore, config: Mapping[str, Any], domain: str, filename: str,
                data: bytes) -> Uploaded:
    """Check and store an upload for ``domain``; BadImage (nothing stored) if it is wrong."""
    original = clean_filename(filename)
    info = check_image(data, *limits(config))
    declared = original.rsplit(".", 1)[1].lower().replace("jpeg", "jpg")
    if declared != info.extension:  # a renamed file: say what it is rather than guess
        raise BadImage(f"{original} is really a {info.extension.upper()} image; "
                       f"rename it to .{info.extension} if that is what you meant.")
    key = new_key(domain, info.extension)
    store.put(key, data, info.content_type)
    return Uploaded(original, key)


def verify_direct_upload(store: AssetStore, config: Mapping[str, Any], domain: str,
                         incoming: str) -> Uploaded:
    """Check what the browser posted straight to the bucket and keep it under a real
    key with its true type; the incoming object is deleted either way."""
    max_bytes, max_pixels = limits(config)
    try:
        check_key(incoming, incoming=True)
    except BadKey:
        raise BadImage("That upload does not belong to this site.") from None
    if not INCOMING.match(incoming) or not incoming.startswith(f"incoming/{domain}/"):
        raise BadImage("That upload does not belong to this site.")
    try:
        data = read(store, incoming, max_bytes + 1)
        if data is None:
            raise BadImage("The upload did not arrive; please try again.")
        info = check_image(data, max_bytes, max_pixels)
        key = new_key(domain, info.extension)
        store.put(key, data, info.content_type)
    finally:
        store.delete(incoming)
    return Uploaded(f"your {info.extension.upper()} image", key)


def use_as_logo(config: Mapping[str, Any], domain: str, uploaded: Uploaded) -> None:
    """Point the site's LANDING_LOGO at the upload (the sites file; the app re-reads it).

    The old logo stays in the store: announcement emails already sent link to it.
    """

    DomainManager.from_config(config).apply(
        lambda text: set_site_value(text, domain, "LANDING_LOGO", uploaded.url))
