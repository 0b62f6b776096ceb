"""Hostile HTTP through the real stack: each gets a clear 4xx, stores nothing, and nginx and
the app keep serving."""

from __future__ import annotations

import socket
import time
from urllib.parse import quote

import pytest

from landingpad.storage.engine import make_engine
from tests.functional.test_scale_out import form_token
from tests.reliability.conftest import record
from tests.servers import request

pytestmark = pytest.mark.functional
FORM = "application/x-www-form-urlencoded"


def raw(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send bytes as they are; return what came back (b"" = a dropped connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # No half-close (SHUT_WR): nginx takes that for a client that left, and drops
        # the request. "Connection: close" ends each exchange instead.
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def post(path: str, body: bytes, host: str = "coffee.test", content_type: str = FORM,
         extra: bytes = b"") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n").encode() + extra + \
        b"\r\n" + body


def get(path: str, host: str = "coffee.test", extra: bytes = b"") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n".encode() + extra + \
        b"\r\n"


def form(token: str, email: bytes = b"a%40example.com", extra: bytes = b"") -> bytes:
    return b"email=" + email + b"&consent=y&token=" + token.encode() + extra


def cases(token: str) -> dict[str, bytes]:
    """name -> raw request. With a valid token, so a case reaches the app's checks
    (a bad token alone gets the bot's fake thank-you, by design)."""
    t = token
    many = b"".join(b"&interests=Beans" for _ in range(400))
    multipart = b"".join(
        b"--b\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nx\r\n" % i
        for i in range(300)) + b"--b--\r\n"
    return {
        # Host
        "host_empty": get("/", host=""),
        "host_spaces": get("/", host="coffee test"),
        "host_huge": get("/", host="a" * 5000 + ".test"),
        "host_bad_port": get("/", host="coffee.test:99999"),
        "host_unknown": get("/", host="nobody.example"),
        "host_nul": get("/").replace(b"Host: coffee.test", b"Host: coffee\x00.test"),
        "host_twice": get("/", extra=b"Host: bikes.test\r\n"),
        "host_utf8_invalid": get("/").replace(b"coffee.test", b"caf\xff.test"),
        # URL
        "url_huge": get("/" + "a" * 20000),
        "url_nul": get("/%00"),
        "url_invalid_utf8": get("/%ff%fe"),
        "url_crlf": get("/thanks%0d%0aSet-Cookie:%20x=1"),
        "static_traversal": get("/static/../../../etc/passwd"),
        "static_traversal_encoded": get("/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd"),
        "assets_traversal": get("/assets/..%2f..%2fsites.toml"),
        "assets_traversal_dots": get("/assets/%2e%2e/secret_key"),
        "assets_incoming": get("/assets/incoming/coffee.test/x.png"),
        "source_file": get("/landingpad.db"),
        # Headers
        "header_huge": get("/", extra=b"X-Big: " + b"a" * 20000 + b"\r\n"),
        "header_nul": get("/", extra=b"X-Nul: a\x00b\r\n"),
        "header_thousands": get("/", extra=b"".join(b"X-H%d: v\r\n" % i for i in range(3000))),
        "request_line_garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
        "http_0_9_style": b"GET /\r\n\r\n",
        # Bodies and fields
        "body_huge": post("/signup", b"email=" + b"a" * 2_000_000),
        # Shorter than the body: the rest arrives as a garbage second request.
        "body_length_lies": post("/signup", form(t)).replace(b"Content-Length: ",
                                                             b"Content-Length: 1", 1)
        .replace(b"Content-Length: 1" + str(len(form(t))).encode(), b"Content-Length: 5"),
        "email_huge": post("/signup", form(t, b"a" * 300 + b"%40example.com")),
        "email_malformed": post("/signup", form(t, b"not-an-address")),
        "email_crlf": post("/signup", form(t, b"a%40example.com%0d%0aBcc:%20x%40evil.test")),
        "email_nul": post("/signup", form(t, b"a%00%40example.com")),
        "email_invalid_utf8": post("/signup", form(t, b"%ff%fe%40example.com")),
        "email_raw_invalid_utf8": post("/signup", form(t, b"\xff\xfe@example.com")),
        "interest_crlf": post("/signup", form(t, extra=b"&interests=Beans%0d%0aX")),
        "interest_unknown": post("/signup", form(t, extra=b"&interests=%3Cscript%3E")),
        "fields_repeated": post("/signup", form(t, extra=many)),
        "fields_thousands": post("/signup", form(t, extra=b"&x=1" * 1500)),
        "multipart_flood": post("/signup", multipart, content_type="multipart/form-data; "
                                "boundary=b"),
        "json_body": post("/signup", b"{}", content_type="application/json"),
        "no_content_type": post("/signup", form(t)).replace(
            b"Content-Type: application/x-www-form-urlencoded\r\n", b""),
        "cross_site": post("/signup", form(t), extra=b"Origin: https://evil.example\r\n"
                           b"Sec-Fetch-Site: cross-site\r\n"),
        "cross_site_null_origin": post("/signup", form(t), extra=b"Origin: null\r\n"
                                       b"Sec-Fetch-Site: cross-site\r\n"),
        "expired_form": post("/signup", form(t[:-6] + "AAAAAA")),
        # Methods
        "put_signup": post("/signup", form(t)).replace(b"POST", b"PUT", 1),
        "delete_root": get("/").replace(b"GET", b"DELETE", 1),
        "trace": get("/").replace(b"GET", b"TRACE", 1),
        "post_root": post("/", form(t)),
        "post_thanks": post("/thanks", form(t)),
        # Tokens
        "confirm_tampered": post("/confirm/" + "A" * 40, b""),
        "confirm_get_tampered": get("/confirm/not-a-token"),
        "unsubscribe_tampered": post("/unsubscribe/" + quote("x.y.z"), b""),
        "data_tampered": get("/privacy/data/eyJhIjoxfQ.tampered"),
        "data_erase_tampered": post("/privacy/data/eyJhIjoxfQ.tampered", b"erase=1"),
        "privacy_request_crlf": post("/privacy/request", b"email=a%40example.com%0d%0aX"),
        # The admin area from a public host
        "admin_login_on_public_host": get("/login"),
        "admin_export_on_public_host": get("/export.csv"),
    }


# Cases whose answer is not a 4xx, by design, and still store nothing:
NOT_4XX_BY_DESIGN = {
    # A bad form token is a bot's: it gets the same thank-you page as a person (303).
    "expired_form": 303,
    "body_length_lies": 303,  # the 5 bytes that count hold no token
    # HTTP/0.9 has no status line: the body alone comes back (the app's 400 page, as
    # nginx names the host "_").
    "http_0_9_style": 0,
    # nginx drops the port from Host (its $host) before the app sees it, so a host with
    # an impossible port is simply that site. The app refuses such a port where it sees it.
    "host_bad_port": 200,
}


@pytest.fixture
def hostile_stack(open_stack):
    return open_stack


def test_hostile_requests_get_a_clear_4xx_and_change_nothing(hostile_stack, database_url,
                                                            data_dir):
    stack = hostile_stack
    token = form_token(stack.port)
    sites_before = (data_dir / "sites.toml").read_bytes()
    answers, problems = {}, []
    for name, data in cases(token).items():
        response = raw(stack.port, data)
        status = int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.") else 0
        answers[name] = status
        expected = NOT_4XX_BY_DESIGN.get(name)
        if name == "http_0_9_style" and b"<h1>Bad request</h1>" not in response:  # the app's page
            problems.append((name, "not the 400 page", response[-600:]))
        if (status != expected) if expected is not None else not 400 <= status < 500:
            problems.append((name, status, response[:120]))
        # ...and the stack still serves after each one.
        if request(stack.port, "GET", "/", "coffee.test")[0] != 200:
            problems.append((name, "stopped serving"))
    assert problems == [], "\n".join(map(repr, problems))

    engine = make_engine(database_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM signups").scalar() == 0
    engine.dispose()
    assert (data_dir / "sites.toml").read_bytes() == sites_before
    time.sleep(0.2)
    log = stack.uwsgi_log.read_bytes().decode(errors="replace")
    assert "=> 500" not in log and "Traceback" not in log
    record("hostile_http", {"requests": len(answers), "statuses": sorted(set(answers.values())),
                            "server_errors": 0, "stored": 0})
