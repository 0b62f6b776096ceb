"""Endpoints: https only, never a loopback, private, link-local or multicast address, at
load (a clear error, nothing changed) and again when a name is resolved at delivery."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from landingpad.settings import SettingsError, load
from landingpad.sites.sitesfile import SitesFileError, parse_sites
from landingpad.values import webhook_secret, webhook_url, webhook_urls
from landingpad.webhooks.send import Refused, checked_addresses

REFUSED = {
    "http://hooks.example.com/x": "https://",
    "ftp://hooks.example.com/x": "https://",
    "https://127.0.0.1/x": "loopback",
    "https://127.8.9.1:8443/x": "loopback",
    "https://[::1]/x": "loopback",
    "https://[::ffff:127.0.0.1]/x": "loopback",
    "https://10.1.2.3/x": "private",
    "https://192.168.0.10/x": "private",
    "https://172.16.5.4/x": "private",
    "https://100.64.0.1/x": "private or reserved",
    "https://169.254.169.254/latest/meta-data": "link-local",
    "https://[fe80::1]/x": "link-local",
    "https://[fd00::1]/x": "private",
    # IPv6 forms carrying an IPv4 address: judged by the address inside.
    "https://[64:ff9b::a9fe:a9fe]/x": "link-local",  # NAT64 to 169.254.169.254
    "https://[64:ff9b:1::a00:1]/x": "private",  # local-use NAT64 to 10.0.0.1
    "https://[2002:7f00:1::1]/x": "loopback",  # 6to4 of 127.0.0.1
    "https://[::127.0.0.1]/x": "loopback",  # IPv4-compatible
    "https://[fec0::1]/x": "private",  # site-local
    "https://224.0.0.1/x": "multicast",
    "https://0.0.0.0/x": "reserved",
    "https://user:pw@hooks.example.com/x": "no user",
    "https://hooks.example.com/x#frag": "no fragment",
    "https://hooks.example.com:99999/x": "port",
    "https:///x": "plain",
    "https://bücher.example/x": "ASCII form",
}


@pytest.mark.parametrize("url", REFUSED)
def test_bad_endpoints_are_refused_with_a_reason(url):
    with pytest.raises(ValueError, match=REFUSED[url]):
        webhook_url(url)


def test_good_endpoints_pass():
    assert webhook_urls("https://hooks.example.com/a?t=1, https://8.8.8.8:8443/b") == (
        "https://hooks.example.com/a?t=1", "https://8.8.8.8:8443/b")
    assert webhook_urls(["https://a.example/x", "https://a.example/x"]) == (
        "https://a.example/x",)
    # Public IPv4 inside NAT64 and 6to4 forms, and plain public IPv6: allowed.
    for url in ("https://[64:ff9b::808:808]/x", "https://[2002:808:808::1]/x",
                "https://[2606:4700::1111]/x"):
        assert webhook_urls(url) == (url,)


def test_a_bad_setting_stops_the_load_naming_the_variable(tmp_path: Path):
    with pytest.raises(SettingsError, match=r"LANDINGPAD_WEBHOOK_URLS=.*loopback"):
        load(environ={"LANDINGPAD_DATA_DIR": str(tmp_path),
                      "LANDINGPAD_WEBHOOK_URLS": "https://ok.example/x, https://127.0.0.1/y"})
    with pytest.raises(SettingsError, match=r"LANDINGPAD_WEBHOOK_SECRET \(value not shown\)"):
        load(environ={"LANDINGPAD_DATA_DIR": str(tmp_path),
                      "LANDINGPAD_WEBHOOK_SECRET": "whsec_tooshort"})
    assert webhook_secret("whsec_" + "A" * 44)


def test_a_bad_sites_file_key_names_file_line_and_url(tmp_path: Path):
    text = '[sites."a.test"]\nLANDING_TITLE = "A"\nwebhooks = ["https://169.254.169.254/x"]\n'
    with pytest.raises(SitesFileError, match=r"sites.toml:3: .*webhooks.*link-local"):
        parse_sites(text, tmp_path / "sites.toml")
    with pytest.raises(SitesFileError, match="must be a list of https:// URLs"):
        parse_sites('[sites."a.test"]\nwebhooks = 3\n', tmp_path / "sites.toml")


def test_a_name_resolving_to_loopback_is_refused_unless_allowed():
    with pytest.raises(Refused, match="loopback"):
        checked_addresses("localhost", 443, allow_private=False)
    assert "127.0.0.1" in checked_addresses("localhost", 443, allow_private=True)


@pytest.fixture(scope="module")
def dns_server():
    """A real DNS server on loopback (dnslib) answering names as a hostile zone might."""
    from dnslib import QTYPE, RR, A
    from dnslib.server import BaseResolver, DNSServer

    from tests.servers import free_port

    answers = {"rebind.test.": "10.0.0.5", "meta.test.": "169.254.169.254",
               "public.test.": "93.184.215.14"}

    class Resolver(BaseResolver):
        def resolve(self, request, handler):
            reply = request.reply()
            name = str(request.q.qname)
            if request.q.qtype == QTYPE.A and name in answers:
                reply.add_answer(RR(name, QTYPE.A, rdata=A(answers[name]), ttl=1))
            return reply

    port = free_port()
    server = DNSServer(Resolver(), port=port, address="127.0.0.1")
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{port}"
    server.server.shutdown()
    server.server.server_close()


def test_resolution_through_the_dns_server_setting_is_checked(dns_server):
    for name, why in (("rebind.test", "private"), ("meta.test", "link-local")):
        with pytest.raises(Refused, match=why):
            checked_addresses(name, 443, allow_private=False, dns_server=dns_server)
    assert checked_addresses("public.test", 443, allow_private=False,
                             dns_server=dns_server) == ["93.184.215.14"]
    with pytest.raises(Refused, match="no A or AAAA"):
        checked_addresses("missing.test", 443, allow_private=False, dns_server=dns_server)


def test_an_endpoint_that_trickles_is_cut_off(tmp_path):
    """A server sending a byte just before each read would time out: the whole exchange
    is still bounded (3 x the timeout), and nothing more than a few KB is read."""
    import socket
    import ssl
    import time

    from landingpad.webhooks.send import Outcome, post, tls_context
    from tests.tls_servers import make_api_certificate

    ca, cert, key = make_api_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def trickle() -> None:
        raw, _ = listener.accept()
        with context.wrap_socket(raw, server_side=True) as conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            while not stop.wait(0.1):  # a header line every 0.1 s, never the end
                try:
                    conn.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    return

    server = threading.Thread(target=trickle, daemon=True)
    server.start()
    started = time.monotonic()
    outcome = post(f"https://localhost:{port}/x", b"{}", {}, timeout=0.5,
                   context=tls_context(str(ca)), allow_private=True)
    elapsed = time.monotonic() - started
    stop.set()
    listener.close()
    assert outcome == Outcome(None, "timed out")
    assert elapsed < 60  # a hang guard: without the watchdog this never returns
