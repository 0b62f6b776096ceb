"""uWSGI's magic variables: the routes every uWSGI runs with, the app's own refusal, and
the environment a UWSGI_SETENV changed put back (what the routes can't stop)."""

from __future__ import annotations

import ctypes
import os

import pytest

from landingpad.deploy.uwsgi import app_options, http_args
from landingpad.web.magic import MAGIC_VARS, ROUTES, EnvironGuard, guard

libc = ctypes.CDLL(None)
libc.getenv.restype = ctypes.c_char_p


def c_getenv(name: str) -> bytes | None:
    """What OpenSSL, libpq or a child process would read (not os.environ's copy)."""
    return libc.getenv(name.encode())


def test_every_uwsgi_refuses_them_first():
    # The names uWSGI 2.0.30's core/protocol.c acts on.
    assert {"UWSGI_FILE", "UWSGI_SCRIPT", "UWSGI_MODULE", "UWSGI_CALLABLE", "UWSGI_SETENV",
            "UWSGI_CHDIR", "UWSGI_PYHOME", "UWSGI_HOME", "UWSGI_APPID", "UWSGI_SCHEME",
            "UWSGI_TOUCH_RELOAD", "UWSGI_POSTFILE", "UWSGI_CACHE_GET"} == MAGIC_VARS
    options = app_options(2)
    routes = [o for o in options if o[0].startswith("route")]
    assert routes[:len(ROUTES)] == ROUTES  # before any other route
    assert ("route-run", "setmodifier1:0") in ROUTES
    for name in MAGIC_VARS:
        assert ("route-if-not", f"empty:${{{name}}} break:403") in ROUTES
    args = " ".join(http_args("127.0.0.1:8080", 2))
    assert "--route-if-not empty:${UWSGI_FILE} break:403" in args


def test_serve_talks_to_its_workers_on_a_private_unix_socket():
    args = http_args("127.0.0.1:8080", 2, socket="/d/deploy/serve-8080.sock")
    at = args.index("--socket")
    assert args[at + 1] == "/d/deploy/serve-8080.sock" and "--chmod-socket=600" in args


@pytest.fixture
def clean_probe():
    yield
    os.unsetenv("LANDINGPAD_PROBE")
    os.unsetenv("LANDINGPAD_PROBE_2")
    os.environ.pop("LANDINGPAD_PROBE_APP", None)


def test_a_setenv_behind_pythons_back_is_put_back(clean_probe):
    keeper = EnvironGuard()
    assert keeper.check() == 0
    home = c_getenv("HOME")
    os.putenv("LANDINGPAD_PROBE", "1")  # as uWSGI's setenv() does: os.environ doesn't see it
    os.putenv("HOME", "/evil")
    os.putenv("LANDINGPAD_PROBE_2", "2")
    assert c_getenv("LANDINGPAD_PROBE") == b"1"
    assert keeper.check() == 3
    assert c_getenv("LANDINGPAD_PROBE") is None and c_getenv("LANDINGPAD_PROBE_2") is None
    assert c_getenv("HOME") == home
    assert keeper.check() == 0


def test_what_the_app_sets_through_os_environ_is_kept(clean_probe):
    keeper = EnvironGuard()
    os.environ["LANDINGPAD_PROBE_APP"] = "mine"
    os.putenv("LANDINGPAD_PROBE", "theirs")
    assert keeper.check() == 1
    assert c_getenv("LANDINGPAD_PROBE_APP") == b"mine" and c_getenv("LANDINGPAD_PROBE") is None


def test_the_app_refuses_a_magic_variable_that_got_past_uwsgi():
    calls = []

    def app(environ, start_response):
        calls.append(environ)
        start_response("200 OK", [])
        return [b"app"]

    wrapped = guard(app)
    seen = {}

    def start_response(status, headers):
        seen["status"] = status

    for name in MAGIC_VARS:
        assert b"".join(wrapped({"PATH_INFO": "/", name: ""}, start_response)) == b""
        assert seen["status"] == "403 Forbidden"
    assert calls == []
    assert b"".join(wrapped({"PATH_INFO": "/", "UWSGI_ROUTER": "http"}, start_response)) == b"app"
