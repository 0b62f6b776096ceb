"""Mozilla's HTTP Observatory, scored locally against the live stack: nginx -> uWSGI -> app.

The scanner is the `httpobs` package's own local scanner (same tests and grader as the
public service). It needs real names and the default ports, so a resolver shim maps
the test domain to loopback and ports 80/443 to the stack's free ports, much as
Chromium's --host-resolver-rules does in the browser tests.
"""

from __future__ import annotations

import socket

import pytest

from tests.functional.test_stack import landingpad
from tests.servers import free_port, self_signed_cert

pytestmark = pytest.mark.functional
DOMAIN = "secure.test"


@pytest.fixture
def tls_site(stack, cli_env, tmp_path):
    cert, key = self_signed_cert(tmp_path, DOMAIN)
    https_port = free_port()
    stack.options.https_listen = f"127.0.0.1:{https_port}"
    stack.options.save()
    result = landingpad(cli_env, "domain", "add", DOMAIN, "--title", "Secure", "--hsts",
                        "--tls-cert", str(cert), "--tls-key", str(key))
    assert result.returncode == 0, result.stderr
    return {"http": stack.port, "https": https_port, "cert": cert}


@pytest.fixture
def resolve_to_stack(monkeypatch, tls_site):
    real = socket.getaddrinfo
    ports = {80: tls_site["http"], 443: tls_site["https"]}

    def getaddrinfo(host, port, *args, **kwargs):
        if host == DOMAIN:
            return real("127.0.0.1", ports.get(port, port), *args, **kwargs)
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise socket.gaierror(f"test resolver: no outside names ({host})")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    # requests prefers these over a session's own verify= (psf/requests#3829).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_site["cert"]))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def test_observatory_scores_at_least_100(tls_site, resolve_to_stack):
    from httpobs.scanner.local import scan

    # verify= the site's own certificate: a valid chain, so HSTS and redirection count.
    result = scan(DOMAIN, verify=str(tls_site["cert"]))
    assert "error" not in result, result
    failed = {name: test["result"] for name, test in result["tests"].items() if not test["pass"]}
    print("Observatory:", result["scan"]["score"], result["scan"]["grade"], failed)
    assert result["scan"]["score"] >= 100, failed
    assert result["scan"]["grade"] == "A+"
    assert result["tests"]["redirection"]["result"] == "redirection-to-https"
    assert result["tests"]["content-security-policy"]["pass"]
