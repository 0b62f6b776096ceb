"""pebble (Let's Encrypt's test CA) and pebble-challtestsrv (its DNS) on loopback.

The recipe of /work/shared/ACME.md: a throwaway CA signs a localhost/127.0.0.1
certificate for pebble's own API; challtestsrv answers every name with 127.0.0.1
and no IPv6, so pebble validates HTTP-01 on 127.0.0.1:http_port. Each process
logs to a file in ``folder`` and is stopped by its own pid.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import shutil
import ssl
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.servers import free_port, stop


def _binary(name: str) -> str:
    found = shutil.which(name) or f"/usr/bin/{name}"
    if not Path(found).exists():
        raise RuntimeError(f"{name} not found: apt-get install -y pebble")
    return found


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_api_certificate(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a localhost/127.0.0.1 server certificate it signs.

    Returns (ca_pem, cert_pem, key_pem). Made with `cryptography` in-process:
    no openssl subprocesses, a few milliseconds.
    """
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "landingpad test API CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                       crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False,
                                       decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem, cert_pem, key_pem = folder / "api-ca.pem", folder / "api-cert.pem", \
        folder / "api-key.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_pem.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(_pem_key(key))
    return ca_pem, cert_pem, key_pem


@dataclass
class Pebble:
    folder: Path
    port: int
    management_port: int
    dns_port: int
    http_port: int
    ca_bundle: Path  # trust this for pebble's own HTTPS (API and management)
    procs: list[subprocess.Popen] = field(default_factory=list)
    dns_management_port: int = 0  # challtestsrv's plain-HTTP management API

    def set_address(self, host: str, address: str) -> None:
        """Make the DNS answer ``address`` for ``host`` (A), e.g. a domain pointing elsewhere."""
        for path, body in (("clear-a", {"host": host}),
                           ("add-a", {"host": host, "addresses": [address]})):
            request = urllib.request.Request(
                f"http://127.0.0.1:{self.dns_management_port}/{path}",
                data=json.dumps(body).encode(), method="POST")
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()

    @property
    def directory(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    @property
    def management(self) -> str:
        return f"https://127.0.0.1:{self.management_port}"

    @property
    def dns_server(self) -> str:
        """challtestsrv's DNS, as LANDINGPAD_DNS_SERVER takes it (every name: 127.0.0.1)."""
        return f"127.0.0.1:{self.dns_port}"

    def _get(self, path: str) -> bytes:
        context = ssl.create_default_context(cafile=str(self.ca_bundle))
        with urllib.request.urlopen(self.management + path, context=context,
                                    timeout=10) as response:
            return response.read()

    def roots_pem(self) -> bytes:
        """The root pebble issues under (new at every start)."""
        return self._get("/roots/0")

    def intermediates_pem(self) -> bytes:
        return self._get("/intermediates/0")

    def log(self) -> str:
        return (self.folder / "pebble.log").read_text(errors="replace")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            stop(proc)


def _ready(url: str, ca_bundle: Path) -> bool:
    context = ssl.create_default_context(cafile=str(ca_bundle))
    try:
        with urllib.request.urlopen(url, context=context, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def start_pebble(folder: Path, http_port: int, validity_seconds: int | None = None,
                 eab_keys: dict[str, str] | None = None, eab_required: bool = False,
                 blocklist: list[str] | None = None, timeout: float = 15.0) -> Pebble:
    """pebble validating HTTP-01 on 127.0.0.1:``http_port``, with its own DNS server.

    ``eab_keys`` (kid -> base64url HMAC key) and ``eab_required`` turn on External
    Account Binding; ``blocklist`` names domains pebble refuses (rejectedIdentifier).
    """
    folder.mkdir(parents=True, exist_ok=True)
    ca_bundle, cert, key = make_api_certificate(folder)
    port, management_port, dns_port = free_port(), free_port(), free_port()
    settings: dict = {
        "listenAddress": f"127.0.0.1:{port}",
        "managementListenAddress": f"127.0.0.1:{management_port}",
        "certificate": str(cert), "privateKey": str(key),
        "httpPort": http_port, "tlsPort": free_port(), "ocspResponderURL": "",
        "externalAccountBindingRequired": eab_required,
    }
    if eab_keys:
        settings["externalAccountMACKeys"] = eab_keys
    if blocklist:
        settings["domainBlocklist"] = blocklist
    if validity_seconds is not None:
        settings["certificateValidityPeriod"] = validity_seconds
    config = folder / "pebble-config.json"
    config.write_text(json.dumps({"pebble": settings}, indent=2))

    server = Pebble(folder, port, management_port, dns_port, http_port, ca_bundle,
                    dns_management_port=free_port())
    with open(folder / "challtestsrv.log", "wb") as log:
        server.procs.append(subprocess.Popen(
            [_binary("pebble-challtestsrv"), "-dns01", f"127.0.0.1:{dns_port}",
             "-http01", "", "-https01", "", "-tlsalpn01", "",
             "-management", f"127.0.0.1:{server.dns_management_port}",
             "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""],
            stdout=log, stderr=subprocess.STDOUT))
    # No random 0-15 s validation sleep, no rejected good nonces, every order validated.
    env = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0",
           "PATH": "/usr/bin:/bin"}
    with open(folder / "pebble.log", "wb") as log:
        server.procs.append(subprocess.Popen(
            [_binary("pebble"), "-config", str(config), "-dnsserver",
             f"127.0.0.1:{dns_port}", "-strict=false"],
            stdout=log, stderr=subprocess.STDOUT, env=env))
    deadline = time.monotonic() + timeout
    while not _ready(server.directory, ca_bundle):
        if any(p.poll() is not None for p in server.procs) or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"pebble did not start: see {folder}/pebble.log and "
                               f"challtestsrv.log:\n{server.log()[-2000:]}")
        time.sleep(0.05)
    return server


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class LoopbackServer(ThreadingHTTPServer):
    # Clients keep connections alive: don't wait for their handler threads on close.
    daemon_threads = True
    block_on_close = False


def serve_in_thread(server: ThreadingHTTPServer) -> None:
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()


class ChallengeServer:
    """Answers /.well-known/acme-challenge/<token> from a dict; records publish/withdraw."""

    def __init__(self) -> None:
        self.answers: dict[str, str] = {}
        self.published: list[str] = []
        self.withdrawn: list[str] = []
        answers = self.answers

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                body = answers.get(self.path.rsplit("/", 1)[-1])
                if body is None or not self.path.startswith("/.well-known/acme-challenge/"):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

        self.server = LoopbackServer(("127.0.0.1", free_port()), Handler)
        self.port = self.server.server_address[1]
        serve_in_thread(self.server)

    def publish(self, token: str, key_authorization: str) -> None:
        self.published.append(token)
        self.answers[token] = key_authorization

    def withdraw(self, token: str) -> None:
        self.withdrawn.append(token)
        self.answers.pop(token, None)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
