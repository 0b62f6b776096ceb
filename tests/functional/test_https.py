"""HTTPS end to end: nginx + uWSGI + the certificate worker + a real CA (pebble).

pebble validates HTTP-01 through the generated nginx on loopback (its DNS answers
every name with 127.0.0.1); the worker runs as `landingpad tls worker`, as systemd
runs it. Proves: `domain add` → live over HTTP at once → a certificate verified to
pebble's root within seconds, and the redirect to HTTPS only then; a domain that
doesn't point here is never ordered while the others get theirs; short-lived
certificates renew with no reload and no failed handshake meanwhile.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509

from tests.functional.conftest import start_stack
from tests.servers import free_port, request, stop

pytestmark = pytest.mark.functional


def landingpad(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("landingpad")
    return subprocess.run([str(exe), *args], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=120)


class Site:
    """A running stack with HTTPS, pebble validating through it, and the worker."""

    def __init__(self, data_dir: Path, cli_env: dict[str, str], pebble_factory,
                 validity_seconds: int | None = None) -> None:
        self.http_port, self.https_port = free_port(), free_port()
        self.ca = pebble_factory(self.http_port, validity_seconds=validity_seconds)
        self.env = {**cli_env, "LANDINGPAD_ACME_DIRECTORY": self.ca.directory,
                    "LANDINGPAD_ACME_CA_BUNDLE": str(self.ca.ca_bundle),
                    "LANDINGPAD_ACME_HTTP_PORT": str(self.http_port),
                    "LANDINGPAD_DNS_SERVER": self.ca.dns_server,
                    "LANDINGPAD_MIN_FILL_SECONDS": "0"}
        self.stack = start_stack_on(data_dir, self.env, self.http_port, self.https_port)
        self.worker: subprocess.Popen | None = None
        self.roots = data_dir.parent / "pebble-roots.pem"
        self.roots.write_bytes(self.ca.roots_pem() + self.ca.intermediates_pem())

    def start_worker(self) -> None:
        exe = Path(sys.executable).with_name("landingpad")
        self.log = open(self.stack.deploy_dir / "logs" / "tls-worker.log", "wb")  # noqa: SIM115
        self.worker = subprocess.Popen([str(exe), "tls", "worker", "--interval", "5"],
                                       env={**os.environ, **self.env}, stdout=self.log,
                                       stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.worker is not None:
            stop(self.worker)
            self.log.close()
        self.stack.stop()

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.roots))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    def certificate(self, host: str, ctx: ssl.SSLContext | None = None) -> x509.Certificate:
        """The verified certificate nginx serves for ``host`` (ssl errors propagate)."""
        with socket.create_connection(("127.0.0.1", self.https_port), timeout=10) as raw, \
                (ctx or self.context()).wrap_socket(raw, server_hostname=host) as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))

    def wait_for_certificate(self, host: str, timeout: float = 60.0) -> x509.Certificate:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.certificate(host)
            except (ssl.SSLError, OSError):
                if time.monotonic() > deadline:
                    log = (self.stack.deploy_dir / "logs" / "tls-worker.log").read_text()
                    raise AssertionError(f"no certificate for {host}:\n{log[-3000:]}") \
                        from None
                time.sleep(0.2)

    def http(self, host: str, path: str = "/") -> tuple[int, dict[str, str], bytes]:
        return request(self.http_port, "GET", path, host)


def start_stack_on(data_dir: Path, env: dict[str, str], http_port: int, https_port: int):
    return start_stack(data_dir, env, port=http_port, https_listen=f"127.0.0.1:{https_port}")


@pytest.fixture
def site(data_dir, cli_env, pebble_factory):
    running = Site(data_dir, cli_env, pebble_factory)
    yield running
    running.stop()


def test_a_domain_added_is_live_at_once_and_gets_its_certificate_then_its_redirect(site):
    site.start_worker()
    site.wait_for_certificate("coffee.test")  # the sites file's own hosts first
    result = landingpad(site.env, "domain", "add", "shop.test", "--title", "Shop")
    assert result.returncode == 0, result.stderr
    status, headers, body = site.http("shop.test")
    if status == 200:  # live over HTTP at once, before its certificate
        assert b"<h1>Shop</h1>" in body
    else:  # the worker was faster than this request: already redirected
        assert status == 301 and headers["location"] == \
            f"https://shop.test:{site.https_port}/"
    cert = site.wait_for_certificate("shop.test", timeout=30)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["shop.test"]
    deadline = time.monotonic() + 15
    while site.http("shop.test")[0] != 301:  # the redirect follows the certificate
        assert time.monotonic() < deadline, "no redirect after the certificate"
        time.sleep(0.2)
    assert site.http("shop.test")[1]["location"] == f"https://shop.test:{site.https_port}/"
    status = landingpad(site.env, "tls", "status").stdout
    assert "shop.test\tvalid\t" in status
    # And the page itself over HTTPS, with the app knowing it is HTTPS.
    with socket.create_connection(("127.0.0.1", site.https_port), timeout=10) as raw, \
            site.context().wrap_socket(raw, server_hostname="shop.test") as tls:
        tls.sendall(b"GET / HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n")
        page = b"".join(iter(lambda: tls.recv(65536), b""))
    assert page.startswith(b"HTTP/1.1 200") and b"<h1>Shop</h1>" in page


@pytest.mark.backends("sqlite")  # pebble-bound; the dialect adds nothing here
def test_a_domain_that_does_not_point_here_is_never_ordered_and_the_others_are(site):
    site.ca.set_address("bikes.test", "127.0.0.2")
    site.start_worker()
    site.wait_for_certificate("coffee.test")
    site.wait_for_certificate("www.coffee.test")
    time.sleep(1)
    with pytest.raises(ssl.SSLError):
        site.certificate("bikes.test")
    assert site.http("bikes.test")[0] == 200  # still served over HTTP, no redirect
    line = next(line for line in landingpad(site.env, "tls", "status").stdout.splitlines()
                if line.startswith("bikes.test\t"))
    assert "\tfailing\t" in line and "not ordered" in line and "127.0.0.2" in line
    assert "bikes.test" not in site.ca.log()  # the CA never heard the name


@pytest.mark.backends("sqlite")  # pebble-bound; the dialect adds nothing here
def test_short_lived_certificates_renew_with_no_reload_and_no_failed_handshake(
        data_dir, cli_env, pebble_factory):
    site = Site(data_dir, cli_env, pebble_factory, validity_seconds=24)
    try:
        site.start_worker()
        first = site.wait_for_certificate("coffee.test")
        workers_before = nginx_workers(site.stack)
        failures: list[str] = []
        serials: set[int] = set()
        stop_at = time.monotonic() + 25  # past the renewal point (a third of 24 s left)
        ctx = site.context()

        def handshakes() -> None:
            while time.monotonic() < stop_at:
                try:
                    serials.add(site.certificate("coffee.test", ctx).serial_number)
                except (ssl.SSLError, OSError) as exc:
                    failures.append(repr(exc))
                time.sleep(0.02)

        thread = threading.Thread(target=handshakes)
        thread.start()
        thread.join(60)
        assert failures == []
        assert len(serials) >= 2 and first.serial_number in serials  # renewed, while served
        assert nginx_workers(site.stack) == workers_before  # no reload: same worker processes
    finally:
        site.stop()


def nginx_workers(stack) -> set[int]:
    master = stack.nginx.pid
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True,
                         text=True).stdout
    return {int(pid) for pid in out.split()}
