import io

import pytest
from PIL import Image

from landingpad.assets.images import BadImage, check_image
from tests.unit.assets.conftest import image_bytes

LIMITS = {"max_bytes": 200_000, "max_pixels": 1_000_000}


@pytest.mark.parametrize(("kind", "extension", "ctype"), [
    ("PNG", "png", "image/png"), ("JPEG", "jpg", "image/jpeg"),
    ("GIF", "gif", "image/gif"), ("WEBP", "webp", "image/webp"),
])
def test_accepted_formats_are_known_by_content(kind, extension, ctype):
    info = check_image(image_bytes(kind), **LIMITS)
    assert (info.extension, info.content_type, info.width, info.height) == \
        (extension, ctype, 120, 40)


def _bmp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, format="BMP")
    return out.getvalue()


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (b"just some text, renamed to logo.png", "not a PNG, JPEG, GIF or WebP"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "SVG"),
    (_bmp(), "not a PNG"),
    (image_bytes("PNG")[:60], "damaged"),
    (image_bytes("PNG", (1001, 1000)), "1001 x 1000 pixels"),
    (b"\x89PNG" + b"x" * 200_001, "larger than the limit"),
])
def test_bad_images_are_refused_with_a_reason(data, message):
    with pytest.raises(BadImage, match=message):
        check_image(data, **LIMITS)


def test_a_decompression_bomb_is_refused_before_it_is_decoded():
    # A tiny file that claims 30000 x 30000 pixels.
    data = _huge_header_png()
    with pytest.raises(BadImage, match="pixels"):
        check_image(data, **LIMITS)


def _huge_header_png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(
        b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b"")
