"""Accept-Language through real nginx with the micro-cache on: each browser gets the page
in the language the app chooses for it, never another language's cached copy."""

from __future__ import annotations

import re

import pytest

from tests.functional.conftest import start_stack
from tests.servers import request

pytestmark = pytest.mark.functional

SITES = """\
[sites."world.test"]
LANDING_TITLE = "Globe"
LANDING_LANGS = ["en", "de", "ja"]

[sites."plain.test"]
LANDING_TITLE = "Plain"
"""


@pytest.fixture
def stack(cli_env, data_dir):
    (data_dir / "sites.toml").write_text(SITES)
    # A minute's cache: every repeat below is answered from it, none by timing luck.
    running = start_stack(data_dir, cli_env, cache_seconds=60)
    yield running
    running.stop()


def lang_of(body: bytes) -> str:
    return re.search(rb'<html lang="([^"]+)"', body).group(1).decode()


# (Accept-Language, the language the app must answer). Pairs that a cache keyed on the
# first language, or on the languages without their q-values, would mix up.
HEADERS = [
    ("de", "de"),
    ("de-AT,de;q=0.9", "de"),
    ("en", "en"),
    ("ja,de;q=0.9", "ja"),
    ("fr,de;q=0.8", "de"),
    ("fr,en;q=0.9", "en"),
    ("de;q=0.5,en", "en"),
    ("de,en;q=0.5", "de"),
    ("DE", "de"),
    (None, "en"),
    ("*", "en"),
    # A raw header shaped like a normalised key must not share that key's copy.
    ("de:,en:,:,:,:,:", "en"),
    ("de, en", "de"),
    ("sv,nb,da,fi,is,et,de", "de"),  # more entries than nginx normalises: keyed raw
    ("sv,nb,da,fi,is,et,ja", "ja"),
]


@pytest.mark.backends("sqlite")  # nginx's cache key: the database adds nothing
def test_the_micro_cache_never_serves_one_languages_page_to_another(stack):
    hits = 0
    for _ in range(2):  # the second round comes from the cache
        for header, lang in HEADERS:
            headers = {"Accept-Language": header} if header is not None else {}
            status, got, body = request(stack.port, "GET", "/", "world.test", headers=headers)
            assert status == 200 and lang_of(body) == lang, (header, got.get("x-cache-status"))
            assert got["content-language"] == lang and "Accept-Language" in got["vary"]
            hits += got.get("x-cache-status") == "HIT"
    assert hits >= len(HEADERS)
    # An explicit language link wins over the browser, and is its own cache entry.
    for _ in range(2):
        body = request(stack.port, "GET", "/?lang=ja", "world.test",
                       headers={"Accept-Language": "de"})[2]
        assert lang_of(body) == "ja"
    # A site in one language: English for everybody, from one copy.
    for header in ("de", "ja", None):
        headers = {"Accept-Language": header} if header else {}
        status, got, body = request(stack.port, "GET", "/", "plain.test", headers=headers)
        assert lang_of(body) == "en" and got["vary"] == "Accept-Encoding"
