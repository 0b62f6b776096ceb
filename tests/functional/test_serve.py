"""`landingpad serve`: the real app under real uWSGI (2 processes), over loopback HTTP."""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest

from landingpad.storage.engine import make_engine
from tests.servers import free_port, request, stop, wait_for_http

pytestmark = pytest.mark.functional


@pytest.fixture
def served(cli_env, tmp_path):
    port = free_port()
    # 120 sign-ups from one client below: the app's own limit out of the way.
    env = {**os.environ, **cli_env, "LANDINGPAD_MIN_FILL_SECONDS": "0",
           "LANDINGPAD_SIGNUP_RATE": "100000/minute"}
    landingpad = Path(sys.executable).with_name("landingpad")
    proc = subprocess.Popen([str(landingpad), "serve", "--port", str(port), "--processes", "2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_http(port, host="coffee.test", proc=proc)
        yield port
    finally:
        stop(proc)


def form_token(port, host="coffee.test"):
    _, _, body = request(port, "GET", "/", host)
    return re.search(rb'name="token" value="([^"]+)"', body).group(1).decode()


def signup_body(token, email="alice@example.com", **extra):
    return urlencode({"email": email, "consent": "y", "token": token, **extra}, doseq=True)


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def rows(url, where=""):
    engine = make_engine(url)
    with engine.connect() as conn:
        result = conn.exec_driver_sql(f"SELECT site, email FROM signups {where} ORDER BY email")
        found = [tuple(r) for r in result]
    engine.dispose()
    return found


def test_each_domain_gets_its_own_page(served):
    for host, title in (("coffee.test", b"Coffee Club"), ("bikes.test", b"Bike Collective")):
        status, headers, body = request(served, "GET", "/", host)
        assert status == 200 and b"<h1>" + title in body
        assert "set-cookie" not in headers
    status, headers, body = request(served, "GET", "/static/landing.css", "coffee.test")
    assert status == 200 and b"--accent" in body


def test_signup_is_committed_before_the_303_is_sent(served, database_url):
    token = form_token(served)
    conn = http.client.HTTPConnection("127.0.0.1", served, timeout=10)
    conn.request("POST", "/signup", body=signup_body(token),
                 headers={"Host": "coffee.test", **FORM})
    response = conn.getresponse()
    assert response.status == 303
    # The status line is in: the row must already be durable and visible to others.
    assert rows(database_url) == [("coffee.test", "alice@example.com")]
    response.read()
    conn.close()


def test_concurrent_signups_across_workers_are_all_stored(served, database_url):
    token = form_token(served)

    def one(i):
        return request(served, "POST", "/signup", "coffee.test",
                       signup_body(token, f"user{i:03d}@example.com"), FORM)[0]

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(one, range(120)))
    assert statuses == [303] * 120
    assert len(rows(database_url)) == 120


@pytest.mark.parametrize(("host", "status"), [("nobody.test", 404), ("bad_host!", 400)])
def test_unknown_and_garbage_hosts(served, host, status):
    assert request(served, "GET", "/", host)[0] == status


def test_visitor_headers_cannot_set_settings_through_the_server(served):
    _, _, body = request(served, "GET", "/", "coffee.test",
                         headers={"Landing-Title": "Evil", "LANDING_TITLE": "Evil"})
    assert b"Evil" not in body and b"Coffee Club" in body
    assert request(served, "GET", "/", "nobody.test", headers={"Landing-Title": "Evil"})[0] == 404


def test_bad_input_through_the_server_stores_nothing(served, database_url):
    token = form_token(served)
    bad = [
        (signup_body(token, "not-an-email"), FORM, 400),
        (signup_body(token, "a@example.com\r\nBcc: b@example.com"), FORM, 400),
        ("email=%FF&consent=y&token=" + token, FORM, 400),
        (signup_body(token, website="x" * 20000), FORM, 413),
        ('{"email": "a@example.com"}', {"Content-Type": "application/json"}, 415),
        (signup_body(token), {**FORM, "Origin": "https://evil.example"}, 403),
    ]
    for body, headers, status in bad:
        assert request(served, "POST", "/signup", "coffee.test", body, headers)[0] == status
    assert rows(database_url) == []


def test_sites_file_edit_is_live_without_restart(served, data_dir):
    assert request(served, "GET", "/", "new.test")[0] == 404
    path = data_dir / "sites.toml"
    path.write_text(path.read_text() + '[sites."new.test"]\nLANDING_TITLE = "Brand new"\n')
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status, _, body = request(served, "GET", "/", "new.test")
        if status == 200:
            break
        time.sleep(0.2)
    assert status == 200 and b"Brand new" in body
