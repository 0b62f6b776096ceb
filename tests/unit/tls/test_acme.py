"""The ACME client against a real pebble (HTTP-01 really fetched from a little server here)
and, for what pebble 2.4 lacks (ARI, rate limits), a small fake CA over HTTPS."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
import ssl
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from acme import client as acme_client
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import DNSName, PolicyBuilder, Store

from landingpad.files import PASSAGE_DIR
from landingpad.tls.acme import AcmeClient, AcmeError, AcmeFailure, ari_cert_id, new_private_key
from tests.tls_servers import (
    ChallengeServer,
    LoopbackServer,
    QuietHandler,
    make_api_certificate,
    serve_in_thread,
)

HOST = "coffee.test"


@pytest.fixture(scope="module")
def challenge_server() -> Iterator[ChallengeServer]:
    server = ChallengeServer()
    yield server
    server.stop()


@pytest.fixture
def challenges(challenge_server: ChallengeServer) -> ChallengeServer:
    challenge_server.answers.clear()
    challenge_server.published.clear()
    challenge_server.withdrawn.clear()
    return challenge_server


@pytest.fixture(scope="module")
def shared_pebble(challenge_server, tmp_path_factory):
    """One pebble for the tests that neither stop nor reconfigure it: each start costs
    about a second (pebble makes a new RSA root and intermediate). Each test still has
    its own account (its own tmp_path)."""
    from tests.tls_servers import start_pebble

    server = start_pebble(tmp_path_factory.mktemp("pebble"), challenge_server.port)
    yield server
    server.stop()


@pytest.fixture
def pebble(shared_pebble, challenges):
    return shared_pebble


def make_client(pebble, folder: Path, **options) -> AcmeClient:
    config = {"ACME_DIRECTORY": pebble.directory, "DATA_DIR": folder,
              "ACME_CA_BUNDLE": str(pebble.ca_bundle), "ACME_EMAIL": "owner@example.com",
              "ACME_EAB_KID": "", "ACME_EAB_HMAC_KEY": "", **options}
    return AcmeClient.from_config(config)


def verify_chain(pebble, chain_pem: bytes, host: str) -> None:
    """Raises unless the chain leads from ``host``'s leaf to pebble's root."""
    certs = x509.load_pem_x509_certificates(chain_pem)
    roots = x509.load_pem_x509_certificates(pebble.roots_pem())
    verifier = PolicyBuilder().store(Store(roots)).build_server_verifier(DNSName(host))
    verifier.verify(certs[0], certs[1:])


def test_issues_a_certificate_that_verifies_against_pebbles_root(pebble, challenges,
                                                                 tmp_path):
    client = make_client(pebble, tmp_path)
    started = time.monotonic()
    issued = client.issue(HOST, challenges.publish, challenges.withdraw)
    took = time.monotonic() - started

    verify_chain(pebble, issued.chain_pem, HOST)
    leaf = x509.load_pem_x509_certificate(issued.chain_pem)
    key = serialization.load_pem_private_key(issued.key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == "secp256r1"
    assert key.public_key() == leaf.public_key()
    assert issued.not_before == leaf.not_valid_before_utc
    assert issued.not_after == leaf.not_valid_after_utc
    assert issued.not_after.tzinfo is not None
    assert challenges.published and challenges.withdrawn == challenges.published
    assert challenges.answers == {}
    # Against a hang only: the speed is bench's tls_issue_s (~0.15 s per certificate).
    assert took < 60, took
    assert b"PRIVATE KEY" not in issued.chain_pem


def test_the_account_key_is_made_once_and_private(pebble, challenges, tmp_path,
                                                  monkeypatch):
    first = make_client(pebble, tmp_path)
    first.issue(HOST, challenges.publish, challenges.withdraw)
    folder = tmp_path / "tls"
    key_file, account_file = folder / "account.key", folder / "account.json"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(account_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(folder).st_mode) == PASSAGE_DIR
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    key_before = key_file.read_bytes()
    uri = json.loads(account_file.read_text())[pebble.directory]["uri"]

    registrations = []
    real = acme_client.ClientV2.new_account
    monkeypatch.setattr(acme_client.ClientV2, "new_account",
                        lambda self, *a: registrations.append(a) or real(self, *a))
    second = make_client(pebble, tmp_path)
    second.issue("www.coffee.test", challenges.publish, challenges.withdraw)
    assert registrations == []  # looked up, not registered again
    assert second.account() == uri
    assert key_file.read_bytes() == key_before


def test_a_given_key_is_kept(pebble, challenges, tmp_path):
    key_pem = new_private_key()
    issued = make_client(pebble, tmp_path).issue(HOST, challenges.publish,
                                                 challenges.withdraw, key_pem=key_pem)
    assert issued.key_pem == key_pem
    leaf = x509.load_pem_x509_certificate(issued.chain_pem)
    assert leaf.public_key() == serialization.load_pem_private_key(
        key_pem, password=None).public_key()


def test_replaces_is_skipped_when_the_ca_has_no_renewal_info(pebble, challenges, tmp_path):
    client = make_client(pebble, tmp_path)
    old = client.issue(HOST, challenges.publish, challenges.withdraw)
    renewed = client.issue(HOST, challenges.publish, challenges.withdraw,
                           key_pem=old.key_pem, replaces=ari_cert_id(old.chain_pem))
    verify_chain(pebble, renewed.chain_pem, HOST)


def test_a_challenge_answering_404_fails_validation_quickly(pebble, challenges, tmp_path):
    withdrawn: list[str] = []
    started = time.monotonic()
    with pytest.raises(AcmeError) as caught:
        make_client(pebble, tmp_path).issue(HOST, lambda token, ka: None, withdrawn.append)
    assert caught.value.kind is AcmeFailure.VALIDATION_FAILED
    assert "404" in caught.value.message
    # A hang guard: waiting out the order's whole polling budget would take minutes.
    assert time.monotonic() - started < 60
    assert len(withdrawn) == 1  # withdrawn even though validation failed


def test_withdraw_is_called_when_publishing_fails(pebble, challenges, tmp_path):
    withdrawn: list[str] = []

    def publish(token: str, key_authorization: str) -> None:
        raise OSError("database is locked")

    with pytest.raises(AcmeError) as caught:
        make_client(pebble, tmp_path).issue(HOST, publish, withdrawn.append)
    assert caught.value.kind is AcmeFailure.OTHER
    assert len(withdrawn) == 1


def test_a_blocked_name_is_refused(pebble_factory, challenges, tmp_path):
    pebble = pebble_factory(challenges.port, blocklist=["blocked.test"])
    with pytest.raises(AcmeError) as caught:
        make_client(pebble, tmp_path).issue("shop.blocked.test", challenges.publish,
                                            challenges.withdraw)
    assert caught.value.kind is AcmeFailure.REFUSED
    assert challenges.published == []


def test_the_ca_down_is_ca_unavailable(pebble_factory, challenges, tmp_path):
    pebble = pebble_factory(challenges.port)
    client = make_client(pebble, tmp_path)
    client.issue(HOST, challenges.publish, challenges.withdraw)  # connected and registered
    pebble.stop()
    with pytest.raises(AcmeError) as caught:
        client.issue(HOST, challenges.publish, challenges.withdraw)
    assert caught.value.kind is AcmeFailure.CA_UNAVAILABLE
    with pytest.raises(AcmeError) as caught:  # a fresh client cannot even read the directory
        make_client(pebble, tmp_path / "fresh").issue(HOST, challenges.publish,
                                                      challenges.withdraw)
    assert caught.value.kind is AcmeFailure.CA_UNAVAILABLE


def test_external_account_binding(pebble_factory, challenges, tmp_path):
    hmac_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    pebble = pebble_factory(challenges.port, eab_required=True,
                            eab_keys={"kid-landingpad": hmac_key})
    with pytest.raises(AcmeError) as caught:
        make_client(pebble, tmp_path / "without").issue(HOST, challenges.publish,
                                                        challenges.withdraw)
    assert caught.value.kind is AcmeFailure.REFUSED
    assert "externalAccountBinding" in caught.value.message

    wrong = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    with pytest.raises(AcmeError) as caught:
        make_client(pebble, tmp_path / "wrong", ACME_EAB_KID="kid-landingpad",
                    ACME_EAB_HMAC_KEY=wrong).issue(HOST, challenges.publish,
                                                   challenges.withdraw)
    assert caught.value.kind is AcmeFailure.REFUSED
    assert wrong not in str(caught.value) and hmac_key not in str(caught.value)

    client = make_client(pebble, tmp_path / "with", ACME_EAB_KID="kid-landingpad",
                         ACME_EAB_HMAC_KEY=hmac_key)
    issued = client.issue(HOST, challenges.publish, challenges.withdraw)
    verify_chain(pebble, issued.chain_pem, HOST)


def test_renewal_time_is_none_without_renewal_info(pebble, challenges, tmp_path):
    client = make_client(pebble, tmp_path)
    issued = client.issue(HOST, challenges.publish, challenges.withdraw)
    when, ask_again = client.renewal_time(issued.chain_pem)
    assert when is None
    assert ask_again.tzinfo is not None and ask_again > dt.datetime.now(dt.UTC)


# -- a fake CA for what pebble 2.4 lacks: ARI and rate limits --------------------------

class FakeCA:
    """A directory with renewalInfo over HTTPS (the test CA), an account endpoint, and a
    newOrder answering whatever ``order_answer`` says. Records the orders' payloads."""

    def __init__(self, folder: Path) -> None:
        self.ca_bundle, cert, key = make_api_certificate(folder)
        self.cert_pem = cert.read_bytes()  # a leaf with an AKI, to ask ARI about
        self.window = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
                       dt.datetime.now(dt.UTC) + dt.timedelta(hours=2))
        self.order_answer: tuple[int, dict, dict] = (
            429, {"type": "urn:ietf:params:acme:error:rateLimited",
                  "detail": "too many new orders recently"}, {"Retry-After": "3600"})
        self.orders: list[dict] = []
        self.renewal_paths: list[str] = []
        fake = self

        class Handler(QuietHandler):
            def _send(self, status: int, body: dict | None, headers: dict | None = None,
                      content_type: str = "application/json") -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Replay-Nonce", base64.urlsafe_b64encode(
                    secrets.token_bytes(16)).decode().rstrip("="))
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_HEAD(self) -> None:
                self._send(200, None)

            def do_GET(self) -> None:
                base = f"https://127.0.0.1:{fake.port}"
                if self.path == "/dir":
                    self._send(200, {"newNonce": base + "/nonce", "newAccount": base + "/acct",
                                     "newOrder": base + "/order",
                                     "renewalInfo": base + "/renewal-info"})
                elif self.path.startswith("/renewal-info/"):
                    fake.renewal_paths.append(self.path.rsplit("/", 1)[-1])
                    start, end = (w.isoformat().replace("+00:00", "Z") for w in fake.window)
                    self._send(200, {"suggestedWindow": {"start": start, "end": end},
                                     "explanationURL": "https://example.com/why"},
                               {"Retry-After": "3600"})
                else:
                    self._send(404, {"type": "urn:ietf:params:acme:error:malformed"})

            def do_POST(self) -> None:
                jws = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                payload = jws["payload"]
                body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
                                  or b"null")
                if self.path == "/acct":
                    self._send(201, {"status": "valid"},
                               {"Location": f"https://127.0.0.1:{fake.port}/acct/1"})
                elif self.path == "/order":
                    fake.orders.append(body)
                    status, answer, headers = fake.order_answer
                    self._send(status, answer, headers, "application/problem+json")
                else:
                    self._send(404, {"type": "urn:ietf:params:acme:error:malformed"})

        self.server = LoopbackServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.directory = f"https://127.0.0.1:{self.port}/dir"
        serve_in_thread(self.server)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_ca(tmp_path) -> Iterator[FakeCA]:
    fake = FakeCA(tmp_path)
    yield fake
    fake.stop()


def test_renewal_time_falls_in_the_suggested_window(fake_ca, tmp_path):
    client = make_client(fake_ca, tmp_path)
    when, ask_again = client.renewal_time(fake_ca.cert_pem)
    assert when is not None and when.tzinfo is not None
    assert fake_ca.window[0] <= when <= fake_ca.window[1]
    assert fake_ca.renewal_paths == [ari_cert_id(fake_ca.cert_pem)]
    in_an_hour = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert abs((ask_again - in_an_hour).total_seconds()) < 60  # the answer's Retry-After


def test_rate_limited_with_retry_after_and_replaces_sent(fake_ca, tmp_path):
    client = make_client(fake_ca, tmp_path)
    with pytest.raises(AcmeError) as caught:
        client.issue(HOST, lambda *a: None, lambda *a: None,
                     replaces=fake_ca.cert_pem.decode())
    assert caught.value.kind is AcmeFailure.RATE_LIMITED
    assert "too many new orders" in caught.value.message
    expected = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert abs((caught.value.retry_after - expected).total_seconds()) < 60
    assert fake_ca.orders[0]["replaces"] == ari_cert_id(fake_ca.cert_pem)
    assert fake_ca.orders[0]["identifiers"] == [{"type": "dns", "value": HOST}]


def test_a_server_error_is_ca_unavailable(fake_ca, tmp_path):
    fake_ca.order_answer = (503, {"type": "urn:ietf:params:acme:error:serverInternal",
                                  "detail": "down for maintenance"}, {})
    with pytest.raises(AcmeError) as caught:
        make_client(fake_ca, tmp_path).issue(HOST, lambda *a: None, lambda *a: None)
    assert caught.value.kind is AcmeFailure.CA_UNAVAILABLE
    assert "maintenance" in caught.value.message
