"""Accept-Language through real nginx with the micro-cache on: each browser gets the page
in the language the app chooses for it, never another language's cached copy."""

from __future__ import annotations

import http.client
import re
import shutil

import pytest

from tests.conftest import TEST_SECRET
from tests.functional.conftest import start_stack
from tests.functional.test_admin_browser import ARTIFACTS, serious_axe_violations
from tests.servers import request

pytestmark = pytest.mark.functional

SITES = """\
[sites."world.test"]
LANDING_TITLE = "Globe"
LANDING_INTERESTS = ["Maps", "Travel"]
LANDING_LANGS = ["en", "de", "ja", "ar"]

[sites."plain.test"]
LANDING_TITLE = "Plain"
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory, sqlite_template):
    """One nginx + uWSGI for the module (SQLite: nginx's cache key is what is tested)."""
    data_dir = tmp_path_factory.mktemp("languages") / "data"
    data_dir.mkdir()
    (data_dir / "sites.toml").write_text(SITES)
    shutil.copy(sqlite_template, data_dir / "db.sqlite")
    env = {"LANDINGPAD_DATA_DIR": str(data_dir), "LANDINGPAD_SITES": "",
           "DATABASE_URL": f"sqlite:///{data_dir / 'db.sqlite'}",
           "LANDINGPAD_SECRET_KEY": TEST_SECRET}
    # A minute's cache: every repeat below is answered from it, none by timing luck.
    running = start_stack(data_dir, env, cache_seconds=60)
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


def raw_get(port: int, host: str, header_lines: list[tuple[str, str]]) -> bytes:
    """GET / with these header lines as sent, repeats included (http.client allows it)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("GET", "/?dup=1", skip_host=True)
    conn.putheader("Host", host)
    for name, value in header_lines:
        conn.putheader(name, value)
    conn.endheaders()
    body = conn.getresponse().read()
    conn.close()
    return body


def test_a_repeated_accept_language_header_cant_poison_another_languages_copy(stack):
    # nginx keys its cache on one copy of a repeated header: the app must answer from that
    # same copy, or "de" then "ar" would store an Arabic page under German's key.
    first = raw_get(stack.port, "world.test", [("Accept-Language", "de"),
                                               ("Accept-Language", "ar")])
    german = raw_get(stack.port, "world.test", [("Accept-Language", "de")])
    assert lang_of(german) == "de" and lang_of(first) == lang_of(german)


def test_german_japanese_and_arabic_pages_in_chromium(browser, stack):
    """Screenshots for a person to look at (test-artifacts/language-*.png: glyphs, not
    boxes), each page's direction, and axe-core's serious checks on the right-to-left
    pages."""
    origin = f"http://world.test:{stack.port}"
    ARTIFACTS.mkdir(exist_ok=True)
    for lang, paths in (("de", ["/"]), ("ja", ["/"]), ("ar", ["/", "/privacy"])):
        # The browser's language picks the page; bypass_csp lets the test inject axe-core
        # only (the CSP is checked elsewhere).
        page = browser.new_context(bypass_csp=True, locale=lang).new_page()
        for path in paths:
            page.goto(origin + path)
            assert page.evaluate("document.documentElement.lang") == lang
            direction = page.evaluate("getComputedStyle(document.body).direction")
            assert direction == ("rtl" if lang == "ar" else "ltr")
            # Nothing sticks out sideways (an off-screen offset would, right to left).
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280
            name = "landing" if path == "/" else path.strip("/")
            page.screenshot(path=str(ARTIFACTS / f"language-{lang}-{name}.png"),
                            full_page=True)
            if lang == "ar":
                assert serious_axe_violations(page) == [], path
        page.context.close()
