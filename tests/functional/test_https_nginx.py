"""HTTPS through a real nginx on loopback: one server block, a certificate per name from
DATA_DIR/tls/live/<host>.pem (a throwaway CA), the owner's own paths, the redirect map,
renewal in place with no reload, session resumption and its ticket keys, HSTS opt-in.

One stack (nginx -> uWSGI -> app) for the module; certificates are made here, not by the
tls package (tests/functional/test_https.py runs the whole flow against pebble)."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from landingpad.deploy.nginx import Nginx, find_nginx
from landingpad.deploy.render import rotate_ticket_keys
from tests.conftest import SITES_TOML, TEST_SECRET
from tests.functional.conftest import start_stack
from tests.servers import free_port, request
from tests.unit.deploy.certificates import ThrowawayCA

pytestmark = [pytest.mark.functional,
              pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")]

LIVE = ("coffee.test", "www.coffee.test", "renew.test")  # certificates from tls/live
SITES = SITES_TOML.replace('aliases = ["www.coffee.test"]\n',
                           'aliases = ["www.coffee.test"]\nLANDING_HSTS = true\n') + """
[sites."renew.test"]
LANDING_TITLE = "Renewed"
"""


class Env:
    def __init__(self, stack, ca: ThrowawayCA, data_dir: Path, https_port: int,
                 serials: dict[str, int], renew_key: ec.EllipticCurvePrivateKey) -> None:
        self.stack, self.ca, self.data_dir = stack, ca, data_dir
        self.https_port, self.serials, self.renew_key = https_port, serials, renew_key


@pytest.fixture(scope="module")
def env(tmp_path_factory, sqlite_template):
    folder = tmp_path_factory.mktemp("https")
    data_dir = folder / "data"
    data_dir.mkdir()
    shutil.copy(sqlite_template, folder / "landingpad.db")
    ca = ThrowawayCA()
    owner_cert, owner_key = ca.write_pair(folder, "own.test", "www.own.test")
    (data_dir / "sites.toml").write_text(SITES + f"""
[sites."own.test"]
LANDING_TITLE = "Own"
aliases = ["www.own.test"]
tls_certificate = "{owner_cert}"
tls_certificate_key = "{owner_key}"
""")
    renew_key = ec.generate_private_key(ec.SECP256R1())
    serials = {host: ca.write_live(data_dir, host, renew_key if host == "renew.test" else None)
               for host in LIVE}
    https_port = free_port()
    cli_env = {"LANDINGPAD_DATA_DIR": str(data_dir), "LANDINGPAD_SITES": "",
               "DATABASE_URL": f"sqlite:///{folder / 'landingpad.db'}",
               "LANDINGPAD_SECRET_KEY": TEST_SECRET, "LANDINGPAD_MIN_FILL_SECONDS": "0"}
    stack = start_stack(data_dir, cli_env, https_listen=f"127.0.0.1:{https_port}",
                        cache_seconds=0)
    try:
        yield Env(stack, ca, data_dir, https_port, serials, renew_key)
    finally:
        stack.stop()


def context(ca: ThrowawayCA, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=ca.pem.decode())
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def handshake(env: Env, name: str | None, ctx: ssl.SSLContext | None = None,
              session: ssl.SSLSession | None = None) -> ssl.SSLSocket:
    """A TLS connection to the stack's HTTPS port, naming ``name`` (SNI) and checking it."""
    ctx = ctx or context(env.ca)
    if name is None:
        ctx.check_hostname = False
    raw = socket.create_connection(("127.0.0.1", env.https_port), timeout=10)
    try:
        return ctx.wrap_socket(raw, server_hostname=name, session=session)
    except BaseException:
        raw.close()
        raise


def serial_of(sock: ssl.SSLSocket) -> int:
    return x509.load_der_x509_certificate(sock.getpeercert(binary_form=True)).serial_number


def get(sock: ssl.SSLSocket, host: str, path: str = "/") -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request on an established TLS socket (left open: the caller's `with`
    closes it, after reading its session)."""
    conn = http.client.HTTPConnection(host)
    conn.sock = sock
    conn.request("GET", path, headers={"Host": host})
    response = conn.getresponse()
    body = response.read()
    headers = {k.lower(): v for k, v in response.getheaders()}
    return response.status, headers, body


def test_each_name_gets_its_own_certificate(env):
    for host in LIVE:
        with handshake(env, host) as sock:
            assert serial_of(sock) == env.serials[host]
        # nginx matches map keys ignoring case: the same certificate for any spelling
        with handshake(env, host.upper()) as sock:
            assert serial_of(sock) == env.serials[host]
    with handshake(env, "coffee.test") as sock:
        status, _, body = get(sock, "coffee.test")
        assert status == 200 and b"<h1>Coffee Club</h1>" in body


def test_the_owners_own_certificate_goes_through_the_same_maps(env):
    for host in ("own.test", "www.own.test", "WWW.Own.Test"):
        with handshake(env, host) as sock:
            assert sock.version() in ("TLSv1.2", "TLSv1.3")
            status, _, body = get(sock, host.lower())
            assert status == 200 and b"<h1>Own</h1>" in body


@pytest.mark.parametrize("name", ["bikes.test", "nobody.test", "coffee.test.evil", None])
def test_a_name_without_a_certificate_fails_cleanly_and_others_go_on(env, name):
    ctx = context(env.ca)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the server itself must refuse, not our check
    with pytest.raises(ssl.SSLError, match="TLSV1_ALERT_INTERNAL_ERROR"):
        handshake(env, name, ctx).close()
    with handshake(env, "coffee.test") as sock:
        assert serial_of(sock) == env.serials["coffee.test"]
    assert env.stack.nginx.poll() is None


def test_tls_1_1_is_refused(env):
    old = context(env.ca)
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer TLS 1.1 at all
    with pytest.warns(DeprecationWarning):  # Python's own warning about TLS 1.1
        old.minimum_version = ssl.TLSVersion.TLSv1_1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError, match="TLSV1_ALERT_PROTOCOL_VERSION") as refused:
        handshake(env, "coffee.test", old).close()
    print("TLS 1.1:", refused.value)
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        with handshake(env, "coffee.test", context(env.ca, version)) as sock:
            assert sock.version() == version.name.replace("v1_", "v1.")


def http_get(env: Env, host: str, path: str = "/") -> tuple[int, dict[str, str], bytes]:
    return request(env.stack.port, "GET", path, host)


def test_http_redirects_only_hosts_with_a_certificate(env):
    for host in ("coffee.test", "www.coffee.test", "own.test", "COFFEE.test"):
        status, headers, _ = http_get(env, host, "/privacy?x=1")
        assert status == 301
        assert headers["location"] == f"https://{host.lower()}:{env.https_port}/privacy?x=1"
    status, _, body = http_get(env, "bikes.test")
    assert status == 200 and b"Bike Collective" in body


def test_the_acme_path_is_always_answered_over_http(env):
    folder = env.stack.deploy_dir / "acme" / ".well-known" / "acme-challenge"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tok-file").write_text("tok-file.thumbprint")
    status, _, body = http_get(env, "coffee.test", "/.well-known/acme-challenge/tok-file")
    assert status == 200 and body == b"tok-file.thumbprint"
    # No file: on to the app (which answers challenges from the database), never a 301.
    status, headers, _ = http_get(env, "coffee.test", "/.well-known/acme-challenge/unknown")
    assert status != 301 and "location" not in headers
    assert status in (200, 404)
    assert "content-security-policy" in headers  # the app's answer, not nginx's own 404


def test_hsts_only_when_opted_in_and_only_over_https(env):
    with handshake(env, "coffee.test") as sock:  # LANDING_HSTS = true
        assert get(sock, "coffee.test")[1]["strict-transport-security"].startswith("max-age=")
    with handshake(env, "www.coffee.test") as sock:
        assert "strict-transport-security" in get(sock, "www.coffee.test", "/privacy")[1]
    with handshake(env, "own.test") as sock:  # not opted in
        assert "strict-transport-security" not in get(sock, "own.test")[1]
    for host in ("coffee.test", "bikes.test"):  # plain HTTP: never
        assert "strict-transport-security" not in http_get(
            env, host, "/.well-known/acme-challenge/unknown")[1]
        assert "strict-transport-security" not in http_get(env, host)[1]


def resumable(env: Env, version: ssl.TLSVersion) -> tuple[ssl.SSLContext, ssl.SSLSession]:
    """A session from a first full handshake (TLS 1.3 sends its ticket after it: read a
    response first)."""
    ctx = context(env.ca, version)
    with handshake(env, "coffee.test", ctx) as sock:
        get(sock, "coffee.test", "/static/landing.css")
        assert not sock.session_reused
        return ctx, sock.session


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_returning_visitors_resume_their_session(env, version):
    ctx, session = resumable(env, version)
    assert session.has_ticket
    with handshake(env, "coffee.test", ctx, session) as sock:
        assert sock.session_reused
        assert get(sock, "coffee.test", "/static/landing.css")[0] == 200


def test_ticket_keys_rotate_and_older_sessions_resume_for_a_while(env):
    nginx = Nginx(env.stack.nginx_binary, env.stack.deploy_dir / "nginx.conf")
    ctx, session = resumable(env, ssl.TLSVersion.TLSv1_2)
    for rotation in range(3):
        assert rotate_ticket_keys(env.stack.deploy_dir, max_age=0)
        assert nginx.reload()
        with handshake(env, "coffee.test", ctx, session) as sock:
            # Sealed with the key now 1, 2, then 3 rotations old: kept for two.
            assert sock.session_reused == (rotation < 2), rotation
            get(sock, "coffee.test", "/static/landing.css")
    assert env.stack.nginx.poll() is None


def test_a_renewed_certificate_is_served_at_once_with_no_reload_and_no_failure(env):
    master = env.stack.nginx.pid
    ctx = context(env.ca)
    failures: list[str] = []
    seen: set[int] = set()
    done = threading.Event()

    def loop() -> None:
        while not done.is_set():
            try:
                with handshake(env, "renew.test", ctx) as sock:  # a full handshake each time
                    seen.add(serial_of(sock))
            except (OSError, ssl.SSLError) as exc:
                failures.append(repr(exc))

    threads = [threading.Thread(target=loop) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(20):
            # As the tls package renews: same key, new chain, one file renamed into place.
            serial = env.ca.write_live(env.data_dir, "renew.test", env.renew_key)
            deadline = time.monotonic() + 5
            while True:
                with handshake(env, "renew.test", ctx) as sock:
                    if serial_of(sock) == serial:
                        break
                assert time.monotonic() < deadline, "the new certificate was never served"
            time.sleep(0.02)
    finally:
        done.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert len(seen) > 10  # the looping clients saw the renewals too
    assert env.stack.nginx.pid == master and env.stack.running_pid() == master
    assert os.path.exists(f"/proc/{master}")
