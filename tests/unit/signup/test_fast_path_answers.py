"""The landing page's fast path keeps its answers for one token slot: a repeat is the
same bytes, and nothing a request sends can get it another request's answer."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from werkzeug.test import EnvironBuilder

from landingpad.signup.pages import (
    ANSWER_KEYS,
    ANSWERS_PER_HOST,
    ANSWERS_PER_SLOT,
    LandingFastPath,
)

NOW = 1_800_000_000.0  # a slot's start (a multiple of 0.1 s)
SITES = """
[sites."world.test"]
LANDING_TITLE = "Globe"
LANDING_LANGS = ["en", "de", "fr"]
LANDING_HSTS = true
"""


class Recording(dict):
    """An environ that remembers every key read from it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key) -> bool:
        self.read.add(key)
        return super().__contains__(key)


@pytest.fixture
def clock(monkeypatch):
    """time.time() as the test sets it."""
    now = [NOW]
    monkeypatch.setattr(time, "time", lambda: now[0])
    return now


def render(app, env: dict) -> None:
    """The whole app answers ``env`` (rendering its page into the page cache)."""
    full = EnvironBuilder(path="/").get_environ()
    full.update(env)
    full = {k: v for k, v in full.items() if v is not None}
    said = []
    b"".join(app(full, lambda status, headers: said.append(status)))
    assert said[0] in ("200 OK", "304 Not Modified"), env


def environ(host="coffee.test", **extra) -> dict:
    return {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "QUERY_STRING": "", "HTTP_HOST": host,
            "SERVER_NAME": "_", "wsgi.url_scheme": "http", **extra}


def call(path: LandingFastPath, env: dict) -> tuple[str, list, bytes]:
    said = []
    body = b"".join(path(env, lambda status, headers: said.append((status, headers))))
    return said[0][0], said[0][1], body


def token_of(body: bytes) -> str:
    return re.search(rb'name="token" value="([^"]+)"', body).group(1).decode()


VARIANTS = {
    "plain": environ(),
    "gzip": environ(HTTP_ACCEPT_ENCODING="gzip"),
    "head": environ(REQUEST_METHOD="HEAD"),
    "https": environ(**{"wsgi.url_scheme": "https"}),
    "revalidation": environ(HTTP_IF_NONE_MATCH="*"),
    "nginx title": environ(LANDING_TITLE="Tea%20Room", LANDING_ENCODING="url"),
    "nginx title, plain": environ(LANDING_TITLE="Tea%20Room"),
    "host by SERVER_NAME": {**environ(), "HTTP_HOST": None, "SERVER_NAME": "coffee.test"},
    "other host by SERVER_NAME": {**environ(), "HTTP_HOST": None, "SERVER_NAME": "world.test"},
    "other site": environ("world.test"),
    "other site, https (HSTS)": environ("world.test", **{"wsgi.url_scheme": "https"}),
    "other language": environ("world.test", HTTP_ACCEPT_LANGUAGE="de"),
    "language by query": environ("world.test", QUERY_STRING="lang=fr"),
}


@pytest.fixture
def fast_path(app, data_dir: Path):
    """A fast path over the app's registry, page cache and tokens, with the page of every
    variant below rendered by the app first; what it can't answer fails the test."""
    with (data_dir / "sites.toml").open("a") as sites:
        sites.write(SITES)
    for env in VARIANTS.values():
        render(app, env)

    def not_answered(environ, start_response):
        raise AssertionError(f"the fast path passed this on: {dict(environ)}")

    def make(admin_host: str = "") -> LandingFastPath:
        ext = app.extensions
        return LandingFastPath(not_answered, ext["landingpad.sites"], ext["landingpad.pages"],
                               ext["landingpad.tokens"], admin_host=admin_host)

    return make


def test_a_warm_answer_is_what_a_cold_fast_path_gives(fast_path, clock):
    warm = fast_path()
    for name in VARIANTS:  # every variant answered once: each could now leak into another
        call(warm, dict(VARIANTS[name]))
    for name, env in VARIANTS.items():
        assert call(warm, dict(env)) == call(fast_path(), dict(env)), name


def test_answers_differ_where_their_requests_do(fast_path, clock):
    path = fast_path()
    answers = {name: call(path, dict(env)) for name, env in VARIANTS.items()}
    assert answers["head"][2] == b"" and answers["plain"][2]
    assert answers["revalidation"][0] == "304 Not Modified"
    assert ("Content-Encoding", "gzip") in answers["gzip"][1]
    assert b"Tea Room" in answers["nginx title"][2]
    assert b"Tea%20Room" in answers["nginx title, plain"][2]
    assert b'lang="de"' in answers["other language"][2]
    assert b'lang="fr"' in answers["language by query"][2]
    assert b"Coffee Club" in answers["host by SERVER_NAME"][2]
    assert b"Globe" in answers["other host by SERVER_NAME"][2]
    assert "Strict-Transport-Security" in dict(answers["other site, https (HSTS)"][1])
    assert "Strict-Transport-Security" not in dict(answers["other site"][1])


def test_reads_only_the_keys_its_answers_are_kept_by(fast_path, clock):
    """On a miss (what a kept answer's values are taken from). A hit compares the same
    keys through the environ's items() and keys(), which a dict subclass can't watch."""
    path = fast_path()
    allowed = {*ANSWER_KEYS, "PATH_INFO"}
    for name, env in VARIANTS.items():
        for _ in range(2):  # the miss, then the hit
            recording = Recording(env)
            call(path, recording)
            assert recording.read <= allowed, (name, recording.read - allowed)


def test_a_repeat_within_the_slot_is_the_same_answer_and_the_next_slot_a_new_token(
        fast_path, clock, app):
    path = fast_path()
    first = call(path, environ())
    clock[0] = NOW + 0.099
    assert call(path, environ()) == first
    clock[0] = NOW + 0.1
    later = call(path, environ())
    assert token_of(later[2]) != token_of(first[2])
    tokens = app.extensions["landingpad.tokens"]
    assert tokens.check("coffee.test", token_of(later[2]), now=NOW + 0.1 + tokens.min_fill + 1) \
        .value == "ok"


def test_a_clock_set_back_gets_a_new_answer_not_a_token_from_the_future(fast_path, clock):
    path = fast_path()
    first = call(path, environ())
    clock[0] = NOW - 60
    earlier = call(path, environ())
    assert token_of(earlier[2]) != token_of(first[2])
    assert token_of(earlier[2]).startswith(format(int((NOW - 60) * 1000), "x"))


def test_a_thread_late_from_the_slot_before_keeps_nothing(fast_path, clock):
    path = fast_path()
    clock[0] = NOW + 0.15
    call(path, environ())
    kept = path._answers
    path._keep(environ(), (NOW, NOW + 0.1), (None, "200 OK", [], b"old"))
    assert path._answers is kept and sum(map(len, kept.values())) == 1
    assert call(path, environ())[2] != b"old"


def test_the_admin_host_is_never_answered_here(fast_path, clock):
    path = fast_path(admin_host="coffee.test")
    for _ in range(2):
        with pytest.raises(AssertionError, match="passed this on"):
            call(path, environ())
    assert b"Globe" in call(path, environ("world.test"))[2]


def test_a_changed_sites_file_is_served_once_a_miss_has_read_it(fast_path, clock,
                                                                  data_dir: Path):
    path = fast_path()
    assert b"Coffee Club" in call(path, environ())[2]
    sites = data_dir / "sites.toml"
    sites.write_text(sites.read_text().replace('"Coffee Club"', '"Coffee Corner"'))
    # Another site's miss, in the same slot, re-reads the file (SITES_CHECK_SECONDS is 0
    # here): coffee.test's kept answer belongs to the old configuration from then on.
    call(path, environ("world.test"))
    # Its new page is Flask's to render, and this fast path has no Flask: it passes it on.
    with pytest.raises(AssertionError, match="passed this on"):
        call(path, environ())


def test_the_next_slot_reads_a_changed_sites_file(fast_path, clock, data_dir: Path):
    path = fast_path()
    assert b"Coffee Club" in call(path, environ())[2]
    sites = data_dir / "sites.toml"
    sites.write_text(sites.read_text().replace('"Coffee Club"', '"Coffee Corner"'))
    clock[0] = NOW + 0.1
    with pytest.raises(AssertionError, match="passed this on"):
        call(path, environ())


def test_a_slot_keeps_a_bounded_number_of_answers(app, fast_path, clock):
    hosts = [f"h{i}.test" for i in range(ANSWERS_PER_SLOT // ANSWERS_PER_HOST + 2)]
    for host in hosts:  # not in the sites file: nginx's params alone make the site
        render(app, environ(host, LANDING_TITLE=f"Title of {host}"))
    path = fast_path()
    for host in hosts:
        for i in range(ANSWERS_PER_HOST + 2):  # as many answers as If-None-Match values
            status, _, body = call(path, environ(host, LANDING_TITLE=f"Title of {host}",
                                                 HTTP_IF_NONE_MATCH=f'"{i}"'))
            assert status == "200 OK" and f"Title of {host}".encode() in body
    kept = path._answers
    assert max(len(answers) for answers in kept.values()) == ANSWERS_PER_HOST
    assert sum(len(answers) for answers in kept.values()) == ANSWERS_PER_SLOT
    clock[0] = NOW + 0.1
    call(path, environ())
    assert sum(len(answers) for answers in path._answers.values()) == 1  # a new slot
