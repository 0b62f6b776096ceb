"""The seed's production stack, live: real nginx -> real uWSGI (unix socket) -> the app."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.servers import free_port, request, self_signed_cert

pytestmark = pytest.mark.functional
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def get(stack, host, path="/", headers=None):
    return request(stack.port, "GET", path, host, headers=headers)


def landingpad(cli_env, *args):
    exe = Path(sys.executable).with_name("landingpad")
    return subprocess.run([str(exe), *args], env={**os.environ, **cli_env}, capture_output=True,
                          text=True, timeout=60)


def test_per_domain_params_reach_the_app_through_nginx(stack, data_dir):
    status, _, body = get(stack, "coffee.test")
    assert status == 200 and b"<h1>Coffee Club</h1>" in body
    # Change the sites file without re-rendering nginx: nginx's uwsgi_param still
    # says "Coffee Club", and the environ wins over the file.
    path = data_dir / "sites.toml"
    path.write_text(path.read_text().replace('"Coffee Club"', '"Changed in file"'))
    time.sleep(1.2)
    body = get(stack, "coffee.test", "/thanks")[2]
    assert b"Coffee Club" in body and b"Changed in file" not in body


def test_alias_is_served_as_its_domain(stack):
    status, _, body = get(stack, "www.coffee.test")
    assert status == 200 and b"<h1>Coffee Club</h1>" in body


def test_static_files_are_served_by_nginx(stack):
    status, headers, body = get(stack, "coffee.test", "/static/landing.css")
    assert status == 200 and b"--accent" in body
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "x-cache-status" not in headers  # never went to the app


@pytest.mark.parametrize("path", ["/index.html", "/static/../../sites.toml", "/deploy.json",
                                  "/uwsgi.ini", "/static/", "/assets/../secret_key"])
def test_web_root_exposes_nothing_but_static_files(stack, path):
    status, _, body = get(stack, "coffee.test", path)
    assert status in (400, 403, 404)
    assert b"secret" not in body and b"[uwsgi]" not in body


def test_unknown_host_gets_the_apps_404(stack):
    status, _, body = get(stack, "nobody.test")
    assert status == 404 and b"No site is configured" in body


def test_landing_page_is_micro_cached_and_posts_never_are(stack):
    statuses = [get(stack, "bikes.test")[1].get("x-cache-status") for _ in range(3)]
    assert statuses[0] in ("MISS", "EXPIRED") and "HIT" in statuses[1:]
    for _ in range(2):
        status, headers, _ = request(stack.port, "POST", "/", "bikes.test", "x=1", FORM)
        assert status == 405 and headers.get("x-cache-status") != "HIT"
    _, _, page = get(stack, "coffee.test")
    token = page.split(b'name="token" value="')[1].split(b'"')[0].decode()
    body = urlencode({"email": "a@example.com", "consent": "y", "token": token})
    for _ in range(2):
        status, headers, _ = request(stack.port, "POST", "/signup", "coffee.test", body, FORM)
        assert status == 303 and "x-cache-status" not in headers


def test_signup_flood_gets_the_apps_styled_429(stack):
    statuses = []
    for _ in range(10):
        status, headers, body = request(stack.port, "POST", "/signup", "coffee.test",
                                        "email=a@example.com", FORM)
        statuses.append(status)
    assert 429 in statuses
    assert b"Too many sign-ups" in body and b"landing.css" in body  # the app's page
    assert "content-security-policy" in headers


def test_hostile_setting_cannot_break_the_config(stack, cli_env):
    title = 'Evil "; } server { listen 1; } $host \\ 100% {'
    result = landingpad(cli_env, "domain", "add", "evil.test", "--title", title,
                        "--tagline", "line } { ; $remote_addr")
    assert result.returncode == 0, result.stderr + result.stdout
    status, _, body = get(stack, "evil.test")
    assert status == 200
    assert b"Evil &#34;; } server { listen 1; } $host \\ 100% {" in body
    assert b"line } { ; $remote_addr" in body
    assert get(stack, "coffee.test")[0] == 200


def test_domain_add_goes_live_under_load_with_zero_failures(stack, cli_env):
    """How fast is bench/run's business (add_domain_live_s); here only a hang is caught."""
    failures, done, count = [], threading.Event(), [0]

    def load():
        while not done.is_set():
            for host in ("coffee.test", "bikes.test"):
                try:
                    status = get(stack, host)[0]
                except OSError as exc:
                    failures.append(repr(exc))
                    continue
                count[0] += 1
                if status != 200:
                    failures.append(status)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    started = time.monotonic()
    result = landingpad(cli_env, "domain", "add", "fresh.test", "--title", "Fresh")
    assert result.returncode == 0, result.stderr
    while get(stack, "fresh.test")[0] != 200:
        assert time.monotonic() - started < 30.0, "new domain never went live"
        time.sleep(0.02)
    live_after = time.monotonic() - started
    print(f"domain live after {live_after:.3f}s with {count[0]} requests meanwhile")
    time.sleep(0.5)
    done.set()
    for t in threads:
        t.join()
    assert failures == [] and count[0] > 50


def test_rejected_config_is_rolled_back_and_old_domains_keep_serving(stack, cli_env, data_dir):
    before = (data_dir / "sites.toml").read_bytes(), \
        (data_dir / "deploy" / "landingpad.conf").read_bytes()
    result = landingpad(cli_env, "domain", "add", "tls.test", "--tls-cert", "/nonexistent/c.pem",
                        "--tls-key", "/nonexistent/k.pem")
    assert result.returncode == 1 and "nothing changed" in result.stderr
    assert ((data_dir / "sites.toml").read_bytes(),
            (data_dir / "deploy" / "landingpad.conf").read_bytes()) == before
    assert get(stack, "coffee.test")[0] == 200 and get(stack, "tls.test")[0] == 404
    assert stack.nginx.poll() is None


def test_tls_domain_with_a_certificate(stack, cli_env, tmp_path):
    cert, key = self_signed_cert(tmp_path, "secure.test")
    # The stack listens on one loopback port; give HTTPS its own free port.
    https_port = free_port()
    options = stack.options
    options.https_listen = f"127.0.0.1:{https_port}"
    options.save()
    result = landingpad(cli_env, "domain", "add", "secure.test", "--title", "Secure", "--hsts",
                        "--tls-cert", str(cert), "--tls-key", str(key))
    assert result.returncode == 0, result.stderr
    status, headers, _ = get(stack, "secure.test")
    assert status == 301 and headers["location"] == f"https://secure.test:{https_port}/"
    status, _, _ = get(stack, "secure.test", "/.well-known/acme-challenge/x")
    assert status == 404  # the ACME root, then the app: not redirected
    import http.client
    import socket
    import ssl

    context = ssl.create_default_context(cafile=str(cert))
    conn = http.client.HTTPSConnection("127.0.0.1", https_port, context=context, timeout=10)
    # The name in SNI, as browsers send it: it picks the certificate (no SNI, no certificate).
    conn.sock = context.wrap_socket(socket.create_connection(("127.0.0.1", https_port), 10),
                                    server_hostname="secure.test")
    conn.request("GET", "/", headers={"Host": "secure.test"})
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200 and b"<h1>Secure</h1>" in body
    assert response.getheader("Strict-Transport-Security", "").startswith("max-age=")


def test_no_log_holds_a_client_address(stack, data_dir):
    """Provoke what nginx logs per request (bad bodies, rate limits, missing files, a
    dead upstream, 500s), then search every generated log for the client's address."""
    get(stack, "coffee.test")
    get(stack, "coffee.test", "/static/no-such-file.css")
    get(stack, "coffee.test", "/" + "x" * 9000)  # over nginx's header buffers
    request(stack.port, "POST", "/signup", "coffee.test", "x" * 2_000_000, FORM)
    for _ in range(8):
        request(stack.port, "POST", "/signup", "coffee.test", "email=a@example.com", FORM)
    request(stack.port, "GET", "/", "coffee.test", headers={"Content-Length": "oops"})
    from tests.servers import stop

    stop(stack.uwsgi)  # every request now fails upstream: nginx logs a connect() error
    assert get(stack, "bikes.test", "/privacy")[0] == 502
    logs = list((data_dir / "deploy" / "logs").iterdir())
    assert {p.name for p in logs} >= {"access.log", "error.log", "uwsgi.log"}
    access = data_dir / "deploy" / "logs" / "access.log"
    deadline = time.monotonic() + 3  # nginx logs a request after answering it
    while b"upstream=502" not in access.read_bytes():
        assert time.monotonic() < deadline, "the 502 never reached the access log"
        time.sleep(0.1)
    for path in logs:
        text = path.read_text(errors="replace")
        assert "127.0.0.1" not in text, (path.name, [
            line for line in text.splitlines() if "127.0.0.1" in line][:3])
