"""No log line names a client or holds a link's token, even when uWSGI logs its own errors.

Through the real things: the rendered nginx + uWSGI config and `landingpad serve`'s uWSGI
command line. The client connects from 127.0.0.7, an address nothing else here uses, so
searching every log for it can't be fooled by other loopback text. Errors are forced, not
assumed: a client that resets mid-request (nginx or the HTTP router closes the app's
connection and uWSGI's write fails: broken pipe, SIGPIPE), a harakiri on a link request
held up by a locked database, a request cut off half-way.
"""

from __future__ import annotations

import email
import os
import re
import socket
import sqlite3
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy.engine import make_url

from landingpad.deploy.nginx import find_nginx
from landingpad.deploy.render import DeployOptions
from landingpad.deploy.stack import Stack
from landingpad.deploy.uwsgi import http_args
from tests.servers import free_port, stop, wait_for_http

pytestmark = [pytest.mark.backends("sqlite")]  # the slow request holds SQLite's write lock

CLIENT = "127.0.0.7"
EMAIL = "dora@example.com"
HARAKIRI = 3  # seconds; the product's 30 would make the test wait that long
FAKE = "Tok3nD1zz9QxW"  # a token-shaped string no real link has
FORM = "application/x-www-form-urlencoded"
ENV = {"LANDINGPAD_MIN_FILL_SECONDS": "0", "LANDINGPAD_SIGNUP_RATE": "100000/minute",
       "LANDINGPAD_PRIVACY_RATE": "100000/minute"}


# -- a client on 127.0.0.7 -------------------------------------------------------

def connect(port: int, timeout: float = 20.0) -> socket.socket:
    sock = socket.socket()
    sock.bind((CLIENT, 0))
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    return sock


def reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a client that gives up does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def http(method: str, path: str, host: str, body: str = "") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
    if method == "POST":
        head += f"Content-Type: {FORM}\r\nContent-Length: {len(body.encode())}\r\n"
    return (head + "\r\n" + body).encode()


def ask(port: int, method: str, path: str, host: str, body: str = "") -> tuple[int, bytes]:
    with connect(port) as sock:
        sock.sendall(http(method, path, host, body))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return (int(data.split(b" ", 2)[1]) if data else 0), data  # 0: closed without an answer


def form_token(port: int, host: str) -> str:
    _, page = ask(port, "GET", "/", host)
    return re.search(rb'name="token" value="([^"]+)"', page).group(1).decode()


def sign_up(port: int, host: str, address: str) -> str:
    return urlencode({"email": address, "consent": "y", "token": form_token(port, host)})


# -- links as a visitor gets them: from the mail ---------------------------------

def mailed_link(data_dir: Path, kind: str, timeout: float = 10.0) -> str:
    """The path of the first ``kind`` link (confirm, privacy/data) in the mail folder."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted((data_dir / "mail").glob("*.eml")):
            for part in email.message_from_bytes(path.read_bytes()).walk():
                text = part.get_payload(decode=True)
                found = text and re.search(rf"https?://[^/\s]+(/{kind}/[^\s\"<>]+)".encode(),
                                           text)
                if found:
                    return found.group(1).decode()
        time.sleep(0.1)
    raise AssertionError(f"no {kind} link was mailed")


def links(port: int, data_dir: Path) -> dict[str, str]:
    """A confirmation link (bikes.test asks for one) and a see-or-erase link."""
    status, _ = ask(port, "POST", "/signup", "bikes.test", sign_up(port, "bikes.test", EMAIL))
    assert status == 303
    confirm = mailed_link(data_dir, "confirm")
    status, _ = ask(port, "POST", "/privacy/request", "bikes.test", urlencode({"email": EMAIL}))
    assert status == 200
    return {"confirm": confirm, "data": mailed_link(data_dir, "privacy/data")}


def token_of(path: str) -> str:
    return path.rsplit("/", 1)[1]


def visit_links(port: int, found: dict[str, str]) -> None:
    """Every link kind, several spellings of it, GET and POST: each is logged somewhere."""
    confirm, data = found["confirm"], found["data"]
    for path in (confirm, confirm + "?utm_source=mail", "/%63onfirm/" + token_of(confirm),
                 data, data + "?format=json", f"/unsubscribe/{FAKE}",
                 f"/offer/confirm/{FAKE}", f"/logos/bikes.test/direct/{FAKE}"):
        status, _ = ask(port, "GET", path, "bikes.test")
        assert status < 500, path
    status, _ = ask(port, "POST", confirm, "bikes.test")
    assert status == 200


# -- forcing uWSGI's own error lines -------------------------------------------------

class DatabaseLock:
    """SQLite's write lock, held by the test: the app's next write waits (busy_timeout)."""

    def __init__(self, database_url: str) -> None:
        self.db = sqlite3.connect(make_url(database_url).database, isolation_level=None)

    def __enter__(self) -> DatabaseLock:
        self.db.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *exc: object) -> None:
        self.db.execute("ROLLBACK")
        self.db.close()


def broken_pipe(port: int, database_url: str) -> None:
    """A sign-up the client gives up on while the app waits: nginx drops the app's
    connection, and the app's answer hits a closed socket. (uWSGI's HTTP router only
    notices when it writes: see big_download.)"""
    body = sign_up(port, "coffee.test", "quitter@example.com")
    with DatabaseLock(database_url):
        sock = connect(port)
        sock.sendall(http("POST", "/signup", "coffee.test", body))
        time.sleep(1.0)  # the request is in the app, waiting for the lock
        reset(sock)
        time.sleep(0.5)  # the server in front sees the reset and drops the app's connection


def harakiri(port: int, database_url: str, data_link: str) -> None:
    """An erasure held past harakiri: uWSGI kills the worker and logs the request."""
    with DatabaseLock(database_url):
        status, _ = ask(port, "POST", data_link, "bikes.test", urlencode({"action": "erase"}))
    assert status in (502, 0)  # nginx: upstream gone; the HTTP router just closes


def cut_off(port: int) -> None:
    """A request that stops half-way and resets: the front end's read fails."""
    sock = connect(port)
    sock.sendall(b"GET /privacy HTTP/1.1\r\nHost: coffee.te")
    time.sleep(0.2)
    reset(sock)


def big_download(port: int, data_dir: Path) -> None:
    """A large file the client stops reading at once (`serve` sends /assets/ through the app)."""
    key = "bikes.test/" + "ab" * 16 + ".png"
    path = data_dir / "assets" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(64 * 1024 * 1024)
    sock = connect(port)
    sock.sendall(http("GET", f"/assets/{key}", "bikes.test"))
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    reset(sock)


# -- what the logs say --------------------------------------------------------------

def wait_for(read: Callable[[], str], pattern: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = read()
        if re.search(pattern, text):
            return text
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} never appeared in:\n{read()[-3000:]}")


def every_log(*folders: Path) -> dict[str, str]:
    """Every log file under ``folders``: nginx's access and error logs, uWSGI's."""
    return {str(path): path.read_text(errors="replace")
            for folder in folders for path in sorted(folder.rglob("*.log")) if path.is_file()}


def assert_private(logs: dict[str, str], secrets: list[str]) -> None:
    assert logs, "no log files found"
    for name, text in logs.items():
        assert CLIENT not in text, f"{name} names the client:\n" + "\n".join(
            line for line in text.splitlines() if CLIENT in line)
        for secret in secrets:
            assert secret not in text, f"{name} holds a link token:\n" + "\n".join(
                line for line in text.splitlines() if secret in line)


# -- behind nginx: the rendered config ----------------------------------------------

@pytest.fixture
def nginx_stack(cli_env, data_dir) -> Iterator[Stack]:
    port = free_port()
    options = DeployOptions(deploy_dir=str(data_dir / "deploy"), data_dir=str(data_dir),
                            listen=f"127.0.0.1:{port}", processes=2, cache_seconds=0,
                            sites_file=str(data_dir / "sites.toml"),
                            signup_rate="600000r/m", signup_burst=100000)
    running = Stack(options, find_nginx(), env={**os.environ, **cli_env, **ENV})
    running.render(data_dir / "sites.toml")
    ini = running.deploy_dir / "uwsgi.ini"
    ini.write_text(ini.read_text().replace("harakiri = 30", f"harakiri = {HARAKIRI}"))
    running.start()
    running.port = port
    yield running
    running.stop()


def test_behind_nginx_no_log_names_the_client_or_holds_a_token(nginx_stack, data_dir,
                                                              database_url):
    port = nginx_stack.port
    found = links(port, data_dir)
    visit_links(port, found)
    broken_pipe(port, database_url)
    uwsgi_log = nginx_stack.uwsgi_log.read_text
    # The write to nginx's closed connection failed, and uWSGI said so.
    wait_for(uwsgi_log, r"(Broken pipe|Connection reset by peer).* during POST /signup "
                        r"|SIGPIPE: .* on request /signup ")
    harakiri(port, database_url, found["data"])
    wait_for(uwsgi_log, r"HARAKIRI \[core \d+\] .* POST /privacy/data/")
    cut_off(port)
    time.sleep(0.5)  # nginx writes the access line when it closes the connection

    logs = every_log(nginx_stack.deploy_dir / "logs", data_dir)
    assert_private(logs, [token_of(found["confirm"]), token_of(found["data"]), FAKE])
    access = logs[str(nginx_stack.deploy_dir / "logs" / "access.log")]
    for path in ("/confirm/<token>", "/privacy/data/<token>", "/unsubscribe/<token>",
                 "/offer/confirm/<token>", "/logos/bikes.test/direct/<token>"):
        assert f'"GET {path} HTTP/1.1" ' in access, path  # logged, without the token
    assert '"POST /confirm/<token> HTTP/1.1" 200' in access
    text = uwsgi_log()
    assert "GET bikes.test/confirm/<token> => 200" in text
    # uWSGI's own lines are still there, with placeholders: nobody, no token.
    assert re.search(r"during POST /signup \(-\)$|on request /signup \(ip -\) !!!$", text, re.M)
    assert re.search(r"HARAKIRI \[core \d+\] - - POST /privacy/data/<token> since", text)


# -- `landingpad serve`: uWSGI's HTTP router in front ---------------------------------

@pytest.fixture
def served(cli_env, data_dir, tmp_path) -> Iterator[tuple[int, Path]]:
    """The uWSGI command line `landingpad serve` runs, with a short harakiri."""
    port = free_port()
    args = http_args(f"127.0.0.1:{port}", 2)
    args[args.index("--harakiri") + 1] = str(HARAKIRI)
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, env={**os.environ, **cli_env, **ENV}, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        wait_for_http(port, host="coffee.test", proc=proc)
        yield port, log
    finally:
        stop(proc)


def test_landingpad_serve_logs_name_no_client_and_hold_no_token(served, data_dir,
                                                               database_url):
    port, log = served
    found = links(port, data_dir)
    visit_links(port, found)
    big_download(port, data_dir)
    # The router dropped the client; the app's next write failed, and uWSGI said so.
    wait_for(log.read_text, r"(Broken pipe|Connection reset by peer).* during GET /assets/"
                            r"|SIGPIPE: .* on request /assets/")
    cut_off(port)
    harakiri(port, database_url, found["data"])
    wait_for(log.read_text, r"HARAKIRI \[core \d+\] .* POST /privacy/data/")

    logs = every_log(log.parent)  # serve.log, and the data dir below
    assert_private(logs, [token_of(found["confirm"]), token_of(found["data"]), FAKE])
    text = log.read_text()
    assert "GET bikes.test/confirm/<token> => 200" in text
    assert "GET bikes.test/unsubscribe/<token> => " in text
    assert re.search(r"during GET /assets/\S+ \(-\)$|on request /assets/\S+ \(ip -\) !!!$",
                     text, re.M)
    assert re.search(r"HARAKIRI \[core \d+\] - - POST /privacy/data/<token> since", text)
