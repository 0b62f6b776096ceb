"""The admin area has one door, through the real servers: the admin server block of the
rendered nginx config (on its own --admin-listen) and `landingpad serve --admin-port`.

Whatever a client puts in Host (the admin's name in any case, with a trailing dot or a
port, in fullwidth letters, with a soft hyphen or a joiner, as UTF-8 or Latin-1 bytes),
in the request line (an absolute URI) or in other headers, the public listener never
reaches the log-in form or the CSV export, not even with a valid session cookie.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from landingpad.admin.accounts import create_user
from landingpad.storage.engine import make_engine
from tests.functional.conftest import start_stack
from tests.reliability.test_hostile_http import raw
from tests.servers import free_port, stop, wait_for_http

pytestmark = pytest.mark.functional
ADMIN = "admin.test"
EMAIL, PASSWORD = "owner@example.com", "correct horse battery"

# The admin host name as IDNA/UTS46 mapping would fold it, in UTF-8 bytes, and single
# bytes that are a soft hyphen (0xAD) or an ordinal "a" (0xAA) in Latin-1.
NON_ASCII_HOSTS = {
    "fullwidth": "\uff41\uff44\uff4d\uff49\uff4e.test".encode(),
    "fullwidth_dot": "admin\uff0etest".encode(),
    "fullwidth_capital": "ADM\uff29N.test".encode(),
    "soft_hyphen": "ad\u00admin.test".encode(),
    "zero_width_joiner": "ad\u200dmin.test".encode(),
    "superscript_a": "\u1d43dmin.test".encode(),
    "long_s": "admin.te\u017ft".encode(),
    "latin1_soft_hyphen": b"ad\xadmin.test",
    "latin1_ordinal_a": b"\xaadmin.test",
}


def ascii_hosts(public_port: int, admin_port: int) -> dict[str, bytes]:
    return {"plain": ADMIN.encode(), "mixed_case": b"ADMIN.Test", "trailing_dot": b"admin.test.",
            "upper_trailing_dot": b"ADMIN.TEST.", "admin_port": f"{ADMIN}:{admin_port}".encode(),
            "public_port": f"{ADMIN}:{public_port}".encode(), "port_80": b"admin.test:80",
            "port_443": b"admin.test:443"}


def get(path: str, host: bytes, cookie: str = "", target: str | None = None,
        extra: bytes = b"") -> bytes:
    head = f"GET {target or path} HTTP/1.1\r\n".encode() + b"Host: " + host + b"\r\n"
    if cookie:
        head += f"Cookie: {cookie}\r\n".encode()
    return head + extra + b"Connection: close\r\n\r\n"


def hostile_requests(public_port: int, admin_port: int, cookie: str) -> dict[str, bytes]:
    """name -> raw request for the PUBLIC listener, each with the owner's session cookie."""
    cases = {}
    for name, host in {**ascii_hosts(public_port, admin_port), **NON_ASCII_HOSTS}.items():
        for path in ("/login", "/export.csv", "/"):
            cases[f"{name} {path}"] = get(path, host, cookie)
    for path in ("/login", "/export.csv"):
        for label, target in (("absolute", f"http://{ADMIN}{path}"),
                              ("absolute_port", f"http://{ADMIN}:{admin_port}{path}"),
                              ("absolute_upper_dot", f"http://ADMIN.TEST.{path}")):
            cases[f"{label} {path}, public Host"] = get(path, b"coffee.test", cookie, target)
        cases[f"public absolute {path}, admin Host"] = get(
            path, ADMIN.encode(), cookie, f"http://coffee.test{path}")
        for header in (b"X-Forwarded-Host: admin.test\r\n", b"Landingpad-Entrance: admin\r\n",
                       b"LANDINGPAD_ENTRANCE: admin\r\n", b"X-Forwarded-Server: admin.test\r\n"):
            cases[f"header {header.split(b':')[0].decode()} {path}"] = get(
                path, b"coffee.test", cookie, extra=header)
    body = urlencode({"email": EMAIL, "password": PASSWORD}).encode()
    cases["post_login"] = (b"POST /login HTTP/1.1\r\nHost: admin.test\r\nContent-Type: "
                           b"application/x-www-form-urlencoded\r\nContent-Length: "
                           + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    return cases


def admin_answer(response: bytes) -> str | None:
    """Why a raw response looks like the admin area answered (None: it did not)."""
    head, _, body = response.partition(b"\r\n\r\n")
    if not response.startswith(b"HTTP/1.1 4"):
        return f"status {response[:20]!r}"
    if b'name="password"' in body or b"Log out" in body:
        return "an admin page"
    if re.search(rb"(?im)^content-type: text/csv", head) or b"site,email" in body:
        return "the CSV export"
    if re.search(rb"(?im)^(set-cookie|location):", head):
        return "a cookie or a redirect"
    return None


class Session:
    """A browser's cookie jar, for one host on one port (http.client has none)."""

    def __init__(self, port: int, host: str = ADMIN) -> None:
        self.port, self.host, self.cookie = port, host, ""

    def request(self, method: str, path: str, body: str | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Host": self.host}
        if self.cookie:
            headers["Cookie"] = self.cookie
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        if cookie := response.getheader("Set-Cookie"):
            self.cookie = cookie.split(";")[0]
        return response.status, response, data

    def log_in(self) -> None:
        _, _, page = self.request("GET", "/login")
        token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        status, response, _ = self.request("POST", "/login", urlencode(
            {"email": EMAIL, "password": PASSWORD, "csrf_token": token.decode()}))
        assert status == 302 and response.getheader("Location") == "/", status


def assert_admin_works(port: int) -> str:
    """The admin door still serves the owner: log in, dashboard, export. Returns the cookie."""
    owner = Session(port)
    owner.log_in()
    assert owner.request("GET", "/")[0] == 200
    status, response, data = owner.request("GET", "/export.csv")
    assert status == 200 and response.getheader("Content-Type").startswith("text/csv")
    assert data.startswith(b"site,email")
    return owner.cookie


def assert_public_listener_never_reaches_admin(public_port: int, admin_port: int,
                                               cookie: str) -> int:
    problems = []
    cases = hostile_requests(public_port, admin_port, cookie)
    for name, data in cases.items():
        response = raw(public_port, data)
        if why := admin_answer(response):
            problems.append((name, why, response[:60]))
    assert problems == [], "\n".join(map(repr, problems))
    return len(cases)


@pytest.fixture
def owner(database_url):
    engine = make_engine(database_url)
    with sa.orm.Session(engine) as session:
        create_user(session, EMAIL, PASSWORD)
    engine.dispose()


# -- nginx: the admin server block on its own listener ----------------------------------

@pytest.fixture
def door_stack(cli_env, data_dir, owner):
    admin_port = free_port()
    stack = start_stack(data_dir, {**cli_env, "LANDINGPAD_ADMIN_HOST": ADMIN}, admin_host=ADMIN,
                        admin_listen=f"127.0.0.1:{admin_port}", cache_seconds=0)
    stack.admin_port = admin_port
    yield stack
    stack.stop()


def test_nginx_public_listener_never_reaches_the_admin_whatever_the_host(door_stack):
    cookie = assert_admin_works(door_stack.admin_port)
    count = assert_public_listener_never_reaches_admin(door_stack.port, door_stack.admin_port,
                                                       cookie)
    assert count > 60
    assert assert_admin_works(door_stack.admin_port)  # and the door still opens


def test_nginx_non_ascii_hosts_get_400_on_both_listeners(door_stack):
    for port in (door_stack.port, door_stack.admin_port):
        for name, host in NON_ASCII_HOSTS.items():
            response = raw(port, get("/login", host))
            assert response.startswith(b"HTTP/1.1 400"), (port, name, response[:60])
            assert b'name="password"' not in response


def assert_admin_listener_answers_the_admin_host_only(public_port: int, port: int) -> None:
    # "/" rather than "/login", which nginx rate-limits: a logged-out dashboard is a
    # redirect to the log-in page.
    for name, host in ascii_hosts(public_port, port).items():
        response = raw(port, get("/", host))
        assert response.startswith(b"HTTP/1.1 302"), (name, response[:60])
        assert re.search(rb"(?im)^location: /login", response), name
    for host in (b"coffee.test", b"localhost", b"127.0.0.1", b"admin.test.evil", b"evil.test"):
        for path in ("/", "/login", "/export.csv"):
            response = raw(port, get(path, host))
            assert response.startswith(b"HTTP/1.1 404"), (host, path, response[:60])
            assert b'name="password"' not in response and b"Set-Cookie" not in response


def test_nginx_admin_listener_answers_the_admin_host_only(door_stack):
    assert_admin_listener_answers_the_admin_host_only(door_stack.port, door_stack.admin_port)
    # The request line names the host nginx goes by: a public one is no admin request.
    response = raw(door_stack.admin_port, get("/", ADMIN.encode(), target="http://coffee.test/"))
    assert response.startswith(b"HTTP/1.1 404")


def test_nginx_the_admin_host_gets_no_public_page_on_the_public_listener(door_stack):
    for host in (ADMIN, "ADMIN.Test", "admin.test."):
        response = raw(door_stack.port, get("/", host.encode()))
        assert response.startswith(b"HTTP/1.1 404") and b'name="token"' not in response


# -- `landingpad serve --admin-port` ----------------------------------------------------

@pytest.fixture
def served_with_admin(cli_env, owner):
    port, admin_port = free_port(), free_port()
    env = {**os.environ, **cli_env, "LANDINGPAD_ADMIN_HOST": ADMIN}
    landingpad = Path(sys.executable).with_name("landingpad")
    proc = subprocess.Popen([str(landingpad), "serve", "--port", str(port), "--admin-port",
                             str(admin_port), "--processes", "2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_http(port, host="coffee.test", proc=proc)
        wait_for_http(admin_port, host=ADMIN, proc=proc)
        yield port, admin_port
    finally:
        stop(proc)


def test_serve_public_port_never_reaches_the_admin_whatever_the_host(served_with_admin):
    port, admin_port = served_with_admin
    cookie = assert_admin_works(admin_port)
    assert_public_listener_never_reaches_admin(port, admin_port, cookie)
    for name, host in NON_ASCII_HOSTS.items():
        for listener in (port, admin_port):
            response = raw(listener, get("/login", host))
            assert response.startswith(b"HTTP/1.1 400"), (listener, name, response[:60])


def test_serve_admin_port_answers_the_admin_host_only(served_with_admin):
    port, admin_port = served_with_admin
    assert_admin_listener_answers_the_admin_host_only(port, admin_port)


def test_serve_refuses_an_admin_port_it_cannot_honour(runner):
    result = runner("serve", "--admin-port", "8081")  # no LANDINGPAD_ADMIN_HOST
    assert result.exit_code == 2 and "LANDINGPAD_ADMIN_HOST" in result.output


# -- `landingpad demo` keeps a usable admin area, behind the same door --------------------

@pytest.mark.parametrize("no_nginx", [False, True], ids=["nginx", "uwsgi-alone"])
def test_demo_serves_the_admin_area_only_through_its_door(cli_env, data_dir, owner, no_nginx):
    port = free_port(consecutive=2)  # the demo's admin port is the next one
    env = {**os.environ, **cli_env, "LANDINGPAD_ADMIN_HOST": ADMIN,
           "LANDINGPAD_SITES": str(data_dir / "sites.toml")}
    landingpad = Path(sys.executable).with_name("landingpad")
    proc = subprocess.Popen([str(landingpad), "demo", "--port", str(port),
                             *(["--no-nginx"] if no_nginx else [])],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    admin_port = port + 1 if no_nginx else port
    try:
        wait_for_http(port, host="coffee.test", proc=proc, timeout=60)
        wait_for_http(admin_port, host=ADMIN, proc=proc, timeout=30)
        assert_admin_works(admin_port)
        if no_nginx:  # the public port is not the admin's
            for host in (ADMIN, "ADMIN.Test", f"{ADMIN}:{admin_port}"):
                assert admin_answer(raw(port, get("/login", host.encode()))) is None, host
    finally:
        # SIGINT: the demo stops the servers it started (nginx and uWSGI) itself.
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)
        stop(proc, timeout=30)
    output = proc.stdout.read().decode(errors="replace")
    assert f"Admin area: http://{ADMIN}:{admin_port}/" in output
