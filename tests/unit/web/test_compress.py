"""gzip: who takes it, the slot-filled stream of the page cache, the middleware, static twins."""

from __future__ import annotations

import gzip
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from landingpad.web.compress import (
    MIN_BYTES,
    STATIC_DIR,
    GzipMiddleware,
    accepts_gzip,
    gzip_bytes,
    gzip_join,
    gzip_parts,
    static_twins,
)


@pytest.mark.parametrize(("header", "expected"), [
    ("gzip", True), ("gzip, deflate, br, zstd", True), ("br;q=1.0, GZIP;q=0.5", True),
    ("*", True), (" deflate , gzip ; q=0.1", True),
    (None, False), ("", False), ("identity", False), ("br", False), ("x-gzip", False),
    ("gzip;q=0", False), ("gzip;q=0.000", False), ("*;q=0", False), ("gzip;q=0, *", False),
])
def test_accepts_gzip_follows_q_values(header, expected):
    assert accepts_gzip(header) is expected


@given(st.binary(max_size=5000), st.binary(max_size=300), st.binary(max_size=5000))
def test_a_slot_filled_between_precompressed_parts_is_one_valid_gzip_stream(head, slot, tail):
    head_z, tail_z, head_crc = gzip_parts(head, tail)
    stream = gzip_join(head_z, slot, tail_z, head_crc, len(head), tail)
    assert gzip.decompress(stream) == head + slot + tail
    # One member that ends where the bytes end (no trailing garbage a browser would choke on).
    one = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert one.decompress(stream) == head + slot + tail and one.eof and not one.unused_data


def test_gzip_bytes_is_reproducible_and_round_trips():
    data = b"<p>hello</p>" * 100
    assert gzip_bytes(data) == gzip_bytes(data)  # no time stamp in the header
    assert gzip.decompress(gzip_bytes(data)) == data


def _app(body: bytes, content_type: str = "text/html; charset=utf-8", **extra: str):
    closed = []

    class Result(list):
        def close(self) -> None:
            closed.append(True)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", content_type),
                                  ("Content-Length", str(len(body))), *extra.items()])
        return Result([body])

    return app, closed


def _call(app, **environ):
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen.update(status=status, headers=dict(headers))

    result = app({"REQUEST_METHOD": "GET", "PATH_INFO": "/", **environ}, start_response)
    body = b"".join(result)
    if hasattr(result, "close"):
        result.close()
    return seen["headers"], body


def test_middleware_compresses_text_for_clients_that_take_gzip():
    page = b"<!doctype html><p>" + b"words " * 300
    inner, closed = _app(page)
    headers, body = _call(GzipMiddleware(inner), HTTP_ACCEPT_ENCODING="gzip, br")
    assert headers["Content-Encoding"] == "gzip" and headers["Vary"] == "Accept-Encoding"
    assert int(headers["Content-Length"]) == len(body) < len(page)
    assert gzip.decompress(body) == page
    assert closed == [True]  # the app's close() still runs (work queued after the response)


@pytest.mark.parametrize(("environ", "body", "kind", "extra"), [
    ({"HTTP_ACCEPT_ENCODING": "identity"}, b"x" * 2000, "text/html", {}),
    ({"HTTP_ACCEPT_ENCODING": "gzip;q=0"}, b"x" * 2000, "text/html", {}),
    ({"HTTP_ACCEPT_ENCODING": "gzip", "REQUEST_METHOD": "HEAD"}, b"", "text/html", {}),
    ({"HTTP_ACCEPT_ENCODING": "gzip"}, b"x" * (MIN_BYTES - 1), "text/html", {}),
    ({"HTTP_ACCEPT_ENCODING": "gzip"}, b"\x89PNG" + b"x" * 2000, "image/png", {}),
    ({"HTTP_ACCEPT_ENCODING": "gzip"}, b"x" * 2000, "text/html", {"Content-Encoding": "br"}),
])
def test_middleware_leaves_alone_what_it_should_not_compress(environ, body, kind, extra):
    inner, _ = _app(body, kind, **extra)
    headers, sent = _call(GzipMiddleware(inner), **environ)
    assert sent == body and headers.get("Content-Encoding") == extra.get("Content-Encoding")


def test_static_text_files_ship_with_a_current_gz_twin():
    """nginx's gzip_static and uWSGI's static-gzip-all send the twin as it is: a stale one
    would serve old CSS. After editing static/, run:
    python -c "from landingpad.web.compress import write_static_twins as w; w()" """
    twins = static_twins(STATIC_DIR)
    assert STATIC_DIR / "landing.css.gz" in twins
    on_disk = set(STATIC_DIR.rglob("*.gz"))
    assert on_disk == set(twins), "stale or missing .gz twins in static/"
    for path, packed in twins.items():
        assert gzip.decompress(path.read_bytes()) == gzip.decompress(packed), path
