"""The certificate worker against a real CA (pebble) validating through `landingpad serve`.

pebble's DNS answers every name with 127.0.0.1, where `landingpad serve` listens on
the port pebble validates HTTP-01 on; the challenge answers come from the database
(the app's /.well-known/acme-challenge/ route), as they would on any node.
"""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from sqlalchemy import select

from landingpad import create_app
from landingpad.storage import session_factory
from landingpad.storage.models import Certificate, CertOrder, CertState
from landingpad.storage.types import utcnow
from landingpad.tls import lease, store
from landingpad.tls.status import rows
from landingpad.tls.worker import LEASE, run_pass
from tests.servers import landingpad_serve

HOSTS = ["bikes.test", "coffee.test", "www.coffee.test"]


@pytest.fixture
def served(cli_env):
    """The app over plain HTTP on a free port (the port the CA validates on)."""
    with landingpad_serve(cli_env) as (port, _proc):
        yield port


@pytest.fixture
def pebble(pebble_factory, served):
    return pebble_factory(served)


@pytest.fixture
def acme_app(app_config, pebble, served):
    """The app configured for pebble, as the worker runs it (in this process)."""
    app = create_app({**app_config, "ACME_DIRECTORY": pebble.directory,
                      "ACME_CA_BUNDLE": str(pebble.ca_bundle), "ACME_HTTP_PORT": served,
                      "DNS_SERVER": pebble.dns_server, "ACME_EMAIL": "owner@example.com"})
    yield app
    app.extensions["landingpad.db"].dispose()


def verify(chain_pem: bytes, host: str, pebble) -> x509.Certificate:
    """The leaf, after openssl verified the chain up to pebble's root for ``host``."""
    folder = pebble.folder
    (folder / "root.pem").write_bytes(pebble.roots_pem())
    (folder / "chain.pem").write_bytes(chain_pem)
    leaf = x509.load_pem_x509_certificates(chain_pem)
    (folder / "leaf.pem").write_bytes(chain_pem.split(b"-----END CERTIFICATE-----")[0]
                                      + b"-----END CERTIFICATE-----\n")
    result = subprocess.run(["openssl", "verify", "-CAfile", str(folder / "root.pem"),
                             "-untrusted", str(folder / "chain.pem"), "-verify_hostname",
                             host, str(folder / "leaf.pem")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return leaf[0]


def queue(app) -> dict[str, Certificate]:
    with session_factory(app)() as session:
        return {row.host: row for row in session.scalars(select(Certificate))}


def test_a_pass_gives_every_host_of_the_sites_file_a_valid_certificate(acme_app, pebble,
                                                                       data_dir):
    report = run_pass(acme_app)
    assert sorted(report.issued) == HOSTS and report.failed == {}
    for host in HOSTS:
        path = store.pem_path(data_dir, host)
        assert stat.S_IMODE(path.stat().st_mode) == 0o640  # nginx's group reads, no one else
        pair = store.read_pair(data_dir, host)
        leaf = verify(pair.chain_pem, host, pebble)
        key = load_pem_private_key(pair.key_pem, None)
        assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
        assert leaf.public_key().public_numbers() == key.public_key().public_numbers()
    live = store.live_dir(data_dir)
    assert stat.S_IMODE(live.stat().st_mode) == 0o2750
    account_key = data_dir / "tls" / "account.key"
    assert stat.S_IMODE(account_key.stat().st_mode) == 0o600
    states = {row.domain: row.state for row in rows(acme_app)}
    assert states == dict.fromkeys(HOSTS, "valid")
    # Nothing is due now: a second pass orders nothing.
    again = run_pass(acme_app)
    assert again.issued == [] and again.failed == {}
    with session_factory(acme_app)() as session:
        assert session.query(CertOrder).count() == 3


@pytest.mark.backends("sqlite")  # pebble-bound; the dialect adds nothing here
def test_a_host_that_does_not_reach_this_server_is_not_ordered_and_backs_off(
        acme_app, pebble, data_dir):
    pebble.set_address("bikes.test", "127.0.0.2")  # points elsewhere (nothing listens there)
    report = run_pass(acme_app)
    assert sorted(report.issued) == ["coffee.test", "www.coffee.test"]
    assert "not ordered" in report.failed["bikes.test"]
    row = queue(acme_app)["bikes.test"]
    assert row.state == CertState.FAILING and row.failures == 1
    assert "127.0.0.2" in row.last_error
    assert utcnow() + timedelta(seconds=25) < row.next_attempt_at < utcnow() + timedelta(minutes=1)
    with session_factory(acme_app)() as session:  # the CA never heard of it
        assert session.scalars(select(CertOrder.host)).all().count("bikes.test") == 0
    assert store.read_pair(data_dir, "bikes.test") is None
    # It points here now: `tls issue bikes.test` ignores the back-off and orders it.
    pebble.set_address("bikes.test", "127.0.0.1")
    assert run_pass(acme_app, ["bikes.test"], force=True).issued == ["bikes.test"]
    assert queue(acme_app)["bikes.test"].state == CertState.VALID


@pytest.mark.backends("sqlite")  # pebble-bound; the dialect adds nothing here
def test_the_ca_down_is_retried_soon_and_loses_nothing(acme_app, app_config, served, pebble,
                                                       data_dir):
    down = create_app({**app_config, "ACME_DIRECTORY": "https://127.0.0.1:9/dir",
                       "ACME_CA_BUNDLE": str(pebble.ca_bundle), "ACME_HTTP_PORT": served,
                       "DNS_SERVER": pebble.dns_server})
    report = run_pass(down)
    down.extensions["landingpad.db"].dispose()
    assert report.issued == [] and set(report.failed) == set(HOSTS)
    for row in queue(acme_app).values():
        assert row.state == CertState.FAILING
        assert row.next_attempt_at < utcnow() + timedelta(seconds=30)  # soon, not hours
    # The CA back: everything issued on the forced pass.
    assert sorted(run_pass(acme_app, HOSTS, force=True).issued) == HOSTS


@pytest.mark.backends("sqlite")  # pebble-bound; the dialect adds nothing here
def test_short_lived_certificates_renew_unattended_and_keep_their_key(
        pebble_factory, app_config, served, data_dir):
    short = pebble_factory(served, validity_seconds=30)
    app = create_app({**app_config, "ACME_DIRECTORY": short.directory,
                      "ACME_CA_BUNDLE": str(short.ca_bundle), "ACME_HTTP_PORT": served,
                      "DNS_SERVER": short.dns_server})
    try:
        assert run_pass(app, ["coffee.test"], force=True).issued == ["coffee.test"]
        first = store.read_pair(data_dir, "coffee.test")
        row = queue(app)["coffee.test"]
        lifetime = first.not_after - first.not_before
        assert row.renew_at < first.not_after - lifetime / 3 + timedelta(seconds=1)
        # Wait until it is due, then one pass renews it.
        wait = (row.next_attempt_at - utcnow()).total_seconds()
        assert 0 < wait < 30
        threading.Event().wait(wait + 0.2)
        report = run_pass(app, ["coffee.test"])
        assert report.issued == ["coffee.test"]
        second = store.read_pair(data_dir, "coffee.test")
        assert second.not_after > first.not_after
        assert second.key_pem == first.key_pem  # a reader between two opens pairs correctly
        assert report.nginx == []  # a renewal: no re-render, no reload
    finally:
        app.extensions["landingpad.db"].dispose()


@pytest.mark.backends("sqlite")  # pebble-bound; the dialect adds nothing here
def test_a_removed_domain_stops_renewing_and_its_file_is_retired(acme_app, data_dir):
    run_pass(acme_app)
    sites = data_dir / "sites.toml"
    text = sites.read_text()
    sites.write_text(text[:text.index('[sites."bikes.test"]')])
    os.utime(sites, (1, 1))  # a new stamp even within the same clock tick
    run_pass(acme_app)
    assert "bikes.test" not in queue(acme_app)
    assert store.read_pair(data_dir, "bikes.test") is None
    assert (data_dir / "tls" / "expired" / "bikes.test.pem").exists()


@pytest.mark.backends("sqlite")  # pebble-bound; the dialect adds nothing here
def test_an_expired_file_is_no_longer_served(acme_app, data_dir, pebble):
    from tests.servers import self_signed_cert

    run_pass(acme_app)
    cert, key = self_signed_cert(pebble.folder, "bikes.test")
    expired = subprocess.run(
        ["openssl", "x509", "-in", cert, "-signkey", key, "-days", "0"],
        capture_output=True, check=True).stdout  # not_after = now
    with open(key, "rb") as fh:
        key_pem = fh.read()
    store.write_pair(data_dir, "bikes.test", expired, key_pem)
    threading.Event().wait(1.1)
    report = run_pass(acme_app)
    assert "bikes.test" in report.retired
    # ... and it is queued again at once (the CA then issues a fresh one on this pass).
    assert store.read_pair(data_dir, "bikes.test") is not None
    assert store.read_pair(data_dir, "bikes.test").not_after > utcnow()


def test_a_second_orderer_waits_for_the_lease(acme_app):
    sessions = session_factory(acme_app)
    assert lease.acquire(sessions, LEASE, "another-node:1")
    report = run_pass(acme_app)
    assert report.ran is False and report.holder == "another-node:1"
    assert queue(acme_app) == {}  # it did nothing at all
    lease.release(sessions, LEASE, "another-node:1")
    assert run_pass(acme_app).ran


@pytest.mark.backends("sqlite")  # pebble-bound; the dialect adds nothing here
def test_a_dead_local_holder_is_taken_over_at_once(acme_app):
    import socket

    dead = subprocess.Popen(["true"])
    dead.wait()
    sessions = session_factory(acme_app)
    assert lease.acquire(sessions, LEASE, f"{socket.gethostname()}:{dead.pid}")
    assert run_pass(acme_app).ran


def test_automatic_certificates_off_orders_nothing(app, data_dir):
    app.config["ACME_DIRECTORY"] = ""
    report = run_pass(app)
    assert report.issued == [] and queue(app) == {}
    assert {row.state for row in rows(app)} == {"none"}


def test_the_owner_is_mailed_once_a_day_when_expiry_is_near_and_renewal_keeps_failing(
        app, data_dir):
    from landingpad.tls.worker import _alerts

    app.config["ACME_EMAIL"] = "certs@example.com"
    now = utcnow()
    with session_factory(app)() as session, session.begin():
        for host, days, state in (("coffee.test", 5, CertState.FAILING),
                                  ("bikes.test", 20, CertState.FAILING),
                                  ("www.coffee.test", 3, CertState.VALID)):
            session.add(Certificate(host=host, state=state.value, failures=4,
                                    not_after=now + timedelta(days=days),
                                    last_error="not ordered: DNS <points elsewhere>",
                                    next_attempt_at=now, updated_at=now))
    _alerts(app, session_factory(app))
    _alerts(app, session_factory(app))  # the same day: no second mail
    mails = sorted((data_dir / "mail").glob("*.eml"))
    assert len(mails) == 1
    text = mails[0].read_text()
    assert "To: owner@coffee.example.com" in text  # the site's own address first
    assert "coffee.test expires in 4 days" in text or "coffee.test expires in 5 days" in text
    assert "DNS <points elsewhere>" in text
    assert queue(app)["coffee.test"].alerted_at is not None


@pytest.mark.backends("postgresql")  # the shared database of a scale-out
def test_two_nodes_either_answers_the_challenge_and_both_serve_every_certificate(
        pebble_factory, app_config, cli_env, data_dir, tmp_path):
    """Node B (its own data dir, the shared database) is where the CA's requests land;
    node A orders. B's pass then copies every pair into its own tls/live/."""
    node_b = tmp_path / "node-b"
    node_b.mkdir()
    (node_b / "sites.toml").write_text((data_dir / "sites.toml").read_text())
    with landingpad_serve({**cli_env, "LANDINGPAD_DATA_DIR": str(node_b)}) as (port, _proc):
        ca = pebble_factory(port)
        acme = {"ACME_DIRECTORY": ca.directory, "ACME_CA_BUNDLE": str(ca.ca_bundle),
                "ACME_HTTP_PORT": port, "DNS_SERVER": ca.dns_server}
        node_a = create_app({**app_config, **acme})
        b_app = create_app({**app_config, **acme, "DATA_DIR": str(node_b)})
        try:
            assert sorted(run_pass(node_a).issued) == HOSTS  # every challenge answered by B
            assert store.served_hosts(node_b) == []
            report = run_pass(b_app)
            assert sorted(report.pulled) == HOSTS and report.issued == []
            for host in HOSTS:
                assert store.read_pair(node_b, host) == store.read_pair(data_dir, host)
                assert stat.S_IMODE(store.pem_path(node_b, host).stat().st_mode) == 0o640
            assert run_pass(b_app).pulled == []  # nothing newer: nothing copied
        finally:
            node_a.extensions["landingpad.db"].dispose()
            b_app.extensions["landingpad.db"].dispose()


@pytest.mark.backends("sqlite")  # pebble-bound; the dialect adds nothing here
def test_the_shared_store_holds_no_readable_private_key(acme_app, data_dir):
    from landingpad.storage.models import SharedCertificate

    run_pass(acme_app, ["coffee.test"], force=True)
    key = store.read_pair(data_dir, "coffee.test").key_pem
    with session_factory(acme_app)() as session:
        sealed = session.get(SharedCertificate, "coffee.test").sealed
    body = key.split(b"\n")[1]
    assert body not in sealed and b"PRIVATE KEY" not in sealed


@pytest.mark.backends("sqlite")  # pebble-bound; the dialect adds nothing here
def test_ari_moves_the_renewal_into_the_cas_suggested_window(app_config, data_dir, tmp_path):
    """A CA with renewalInfo (pebble has none: a small fake one): a due ARI check asks it,
    and the renewal time lands in its window instead of a third of the lifetime."""
    from tests.unit.tls.test_acme import FakeCA

    fake = FakeCA(tmp_path)
    app = create_app({**app_config, "ACME_DIRECTORY": fake.directory,
                      "ACME_CA_BUNDLE": str(fake.ca_bundle), "ACME_HTTP_PORT": 9,
                      "DNS_SERVER": "127.0.0.1:9"})
    try:
        # The fake CA's own leaf stands in for an issued certificate (it has an AKI).
        store.write_pair(data_dir, "coffee.test", fake.cert_pem,
                         (tmp_path / "api-key.pem").read_bytes())
        now = utcnow()
        with session_factory(app)() as session, session.begin():
            session.add(Certificate(host="coffee.test", state="valid", failures=0,
                                    not_after=now + timedelta(days=1),
                                    renew_at=now + timedelta(days=30), next_attempt_at=now,
                                    updated_at=now))
        run_pass(app, ["coffee.test"])
        row = queue(app)["coffee.test"]
        assert fake.window[0] <= row.renew_at <= fake.window[1]
        assert row.ari_checked_at is not None and row.state == "valid"
        assert row.next_attempt_at <= row.renew_at
        assert fake.orders == []  # only asked; nothing ordered before the window
    finally:
        app.extensions["landingpad.db"].dispose()
        fake.stop()


@pytest.mark.backends("sqlite")  # pebble-bound; the dialect adds nothing here
def test_kill_9_mid_order_keeps_the_old_pair_served_and_the_next_pass_resumes(
        acme_app, cli_env, pebble, served, data_dir):
    import signal
    import sys
    import time
    from pathlib import Path

    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    run_pass(acme_app)
    before = {host: store.read_pair(data_dir, host) for host in HOSTS}
    env = {**os.environ, **cli_env, "LANDINGPAD_ACME_DIRECTORY": pebble.directory,
           "LANDINGPAD_ACME_CA_BUNDLE": str(pebble.ca_bundle),
           "LANDINGPAD_ACME_HTTP_PORT": str(served), "LANDINGPAD_DNS_SERVER": pebble.dns_server}
    issuer = subprocess.Popen([str(Path(sys.executable).with_name("landingpad")), "tls", "issue",
                               *HOSTS], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    sessions = session_factory(acme_app)
    deadline = time.monotonic() + 60
    try:
        while True:  # the moment an order is placed with the CA: kill it there
            with sessions() as session:
                if session.scalar(select(CertOrder.id).where(
                        CertOrder.outcome == "pending").limit(1)) is not None:
                    break
            assert issuer.poll() is None and time.monotonic() < deadline, \
                issuer.communicate()[0].decode()
            time.sleep(0.005)
    finally:
        os.kill(issuer.pid, signal.SIGKILL)
        issuer.wait(10)
    assert lease.holder_of(sessions, LEASE).endswith(f":{issuer.pid}")
    for host in HOSTS:  # every file is still one whole, matching pair: old or new
        pair = store.read_pair(data_dir, host)
        key = load_pem_private_key(pair.key_pem, None).public_key()
        cert_key = x509.load_pem_x509_certificate(pair.chain_pem).public_key()
        assert key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo) == \
            cert_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        assert pair.key_pem == before[host].key_pem
    # The next pass here takes over the dead issuer's lease at once and finishes.
    report = run_pass(acme_app, HOSTS, force=True)
    assert report.ran and sorted(report.issued) == HOSTS
    assert {row.state for row in queue(acme_app).values()} == {"valid"}
