"""What a hostile domain, a full disk or a misconfigured node can't do to the certificates.

From an outside review: a domain whose DNS someone else controls must not hold
the orderer; a failed write must not make it order again and again; a broken
file must not stop every pass; a node with another secret key must say so.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from sqlalchemy import select

from landingpad import create_app
from landingpad.storage import session_factory
from landingpad.storage.models import Certificate, CertOrder
from landingpad.tls import lease, store
from landingpad.tls.probe import Probe, ProbeFailed, addresses
from landingpad.tls.status import rows
from landingpad.tls.worker import LEASE, printable, run_pass
from tests.servers import landingpad_serve
from tests.unit.tls.test_worker import HOSTS, queue


class Dripper:
    """A server on 127.0.0.2 that accepts, then sends ``payload`` a byte every ``pause``."""

    def __init__(self, payload: bytes, pause: float) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.2", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.payload, self.pause, self.stopped = payload, pause, False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(4096)
                for byte in self.payload:
                    conn.sendall(bytes([byte]))
                    time.sleep(self.pause)
            except OSError:
                pass

    def stop(self) -> None:
        self.stopped = True
        self.sock.close()


@pytest.fixture
def dripper():
    servers = []

    def start(payload: bytes, pause: float = 0.0) -> Dripper:
        server = Dripper(payload, pause)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_a_server_dripping_its_answer_gets_the_probe_deadline_not_one_per_byte(
        dripper, monkeypatch):
    monkeypatch.setattr("landingpad.tls.probe.TIMEOUT", 1.0)
    slow = dripper(b"HTTP/1.1 200 OK\r\n" + b"X-Pad: x\r\n" * 100, pause=0.2)
    started = time.monotonic()
    with pytest.raises(ProbeFailed, match="does not answer"):
        Probe("evil.test", slow.port)._fetch("127.0.0.2", "t", "expected")
    assert time.monotonic() - started < 15  # a deadline per byte would be 20 s and more


def test_a_hostile_answer_reaches_status_without_control_characters(dripper):
    escape = dripper(b"HTTP/1.1 200\x1b]0;owned\x07\r\n\r\n\x1b[2K\rcoffee.test valid\n")
    with pytest.raises(ProbeFailed) as caught:
        Probe("mal.test", escape.port)._fetch("127.0.0.2", "t", "expected")
    assert all(ch.isprintable() for ch in str(caught.value))
    assert printable("a\x1b[2K\rb\nc") == "a\\x1b[2K\\x0db\\x0ac"


def test_only_one_address_per_family_is_probed(pebble_factory):
    ca = pebble_factory(9)
    many = [f"127.0.0.{i}" for i in range(2, 40)]
    for address in many:  # challtestsrv keeps adding; one call per address
        import json
        import urllib.request

        request = urllib.request.Request(
            f"http://127.0.0.1:{ca.dns_management_port}/add-a",
            data=json.dumps({"host": "many.test", "addresses": [address]}).encode(),
            method="POST")
        urllib.request.urlopen(request, timeout=10).read()
    found = addresses("many.test", ca.dns_server)
    assert len(found) == 1 and found[0] in [*many, "127.0.0.1"]


@pytest.fixture
def served(cli_env):
    with landingpad_serve(cli_env) as (port, _proc):
        yield port


@pytest.fixture
def acme_app(app_config, pebble_factory, served):
    ca = pebble_factory(served)
    app = create_app({**app_config, "ACME_DIRECTORY": ca.directory,
                      "ACME_CA_BUNDLE": str(ca.ca_bundle), "ACME_HTTP_PORT": served,
                      "DNS_SERVER": ca.dns_server})
    app.extensions["test.pebble"] = ca
    yield app
    app.extensions["landingpad.db"].dispose()


@pytest.mark.backends("sqlite")  # pebble-bound; the dialect adds nothing here
def test_an_issued_certificate_that_cant_be_written_is_counted_and_backs_off(
        acme_app, data_dir):
    store.make_dir(store.tls_dir(data_dir), 0o2710)
    store.live_dir(data_dir).write_text("not a folder")  # every write fails (even as root)
    report = run_pass(acme_app, ["coffee.test"], force=True)
    assert "issued but not installed" in report.failed["coffee.test"]
    row = queue(acme_app)["coffee.test"]
    assert row.state == "failing" and row.failures == 1
    with session_factory(acme_app)() as session:  # the CA counted it: so do we
        outcomes = session.scalars(select(CertOrder.outcome).where(
            CertOrder.host == "coffee.test")).all()
    assert outcomes == ["issued"]
    # A second pass right away orders nothing (backing off), instead of ordering again.
    assert run_pass(acme_app, ["coffee.test"]).issued == []
    store.live_dir(data_dir).unlink()
    assert run_pass(acme_app, ["coffee.test"], force=True).issued == ["coffee.test"]


@pytest.mark.backends("sqlite")  # pebble-bound; the dialect adds nothing here
def test_a_broken_file_is_taken_out_of_service_and_the_pass_goes_on(acme_app, data_dir):
    assert sorted(run_pass(acme_app).issued) == HOSTS
    path = store.pem_path(data_dir, "bikes.test")
    path.write_bytes(path.read_bytes()[:300])  # truncated
    report = run_pass(acme_app)
    assert report.unreadable == ["bikes.test"] and "bikes.test" in report.retired
    # The stored copy (the shared database) puts the good pair back on the same pass.
    assert report.pulled == ["bikes.test"]
    assert store.read_pair(data_dir, "bikes.test") is not None


@pytest.mark.backends("postgresql")  # the shared database of a scale-out
def test_a_node_with_another_secret_key_says_it_cant_serve_the_certificates(
        acme_app, app_config, tmp_path, runner, cli_env):
    run_pass(acme_app)
    node_b = tmp_path / "node-b"
    node_b.mkdir()
    (node_b / "sites.toml").write_text((tmp_path / "data" / "sites.toml").read_text())
    other = create_app({**app_config, "DATA_DIR": str(node_b), "SECRET_KEY": "b" * 64,
                        "ACME_DIRECTORY": ""})
    try:
        report = run_pass(other)
        assert sorted(report.unsealable) == HOSTS and report.pulled == []
        assert store.served_hosts(node_b) == []
        states = {row.domain: (row.state, row.last_error) for row in rows(other)}
        assert all(state == "failing" and "no readable copy" in error
                   for state, error in states.values())
    finally:
        other.extensions["landingpad.db"].dispose()
    cli_env.update({"LANDINGPAD_DATA_DIR": str(node_b), "LANDINGPAD_SECRET_KEY": "b" * 64})
    result = runner("tls", "sync")
    assert result.exit_code == 1 and "another secret key" in result.output


@pytest.mark.backends("sqlite")  # pebble-bound; the dialect adds nothing here
def test_tls_issue_while_another_orderer_runs_makes_the_host_due_for_it(acme_app):
    run_pass(acme_app)
    sessions = session_factory(acme_app)
    assert lease.acquire(sessions, LEASE, "other-node:1")
    report = run_pass(acme_app, ["coffee.test"], force=True)
    assert not report.ran
    with sessions() as session:
        row = session.get(Certificate, "coffee.test")
        assert row.next_attempt_at <= row.updated_at or row.next_attempt_at is not None
    assert queue(acme_app)["coffee.test"].renew_at <= queue(acme_app)["coffee.test"].not_after
    lease.release(sessions, LEASE, "other-node:1")
    assert run_pass(acme_app).issued == ["coffee.test"]  # the next orderer takes it


def test_old_retired_keys_and_crashed_temp_files_are_swept(data_dir):
    import os

    expired = store.tls_dir(data_dir) / "expired"
    store.make_dir(expired, 0o700)
    store.make_dir(store.live_dir(data_dir), 0o2750)
    old_key, new_key = expired / "gone.test.pem", expired / "recent.test.pem"
    temp = store.live_dir(data_dir) / ".coffee.test.pem.abc123"
    for path in (old_key, new_key, temp):
        path.write_bytes(b"key")
    long_ago = time.time() - 31 * 86400
    os.utime(old_key, (long_ago, long_ago))
    os.utime(temp, (long_ago, long_ago))
    store.sweep(data_dir)
    assert not old_key.exists() and not temp.exists() and new_key.exists()
