"""The demo's throwaway CA (tls.localca): its files, its name constraints, and its leaves."""

from __future__ import annotations

import datetime as dt
import os
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from landingpad.sites.sitesfile import parse_sites
from landingpad.tls import localca, store

SITES = """\
[sites."coffee.localhost"]
LANDING_TITLE = "Coffee"
aliases = ["www.coffee.localhost"]

[sites."books.localhost"]
LANDING_TITLE = "Books"

[sites."shop.test"]
LANDING_TITLE = "Shop"
"""


def config(text: str = SITES):
    return parse_sites(text, Path("/nonexistent/sites.toml"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def openssl_verify(folder: Path, ca_pem: Path, leaf_pem: bytes, host: str):
    (folder / "leaf.pem").write_bytes(leaf_pem)
    return subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile", str(ca_pem),
                           "-verify_hostname", host, str(folder / "leaf.pem")],
                          capture_output=True, text=True)


def test_the_ca_is_made_once_private_p256_a_year_named_and_limited_to_localhost(tmp_path):
    ca = localca.load_or_create(tmp_path)
    folder = tmp_path / "tls" / "demo-ca"
    assert ca.created and ca.cert_path == folder / "ca.pem"
    assert mode(folder) == 0o700 and mode(folder / "ca.key") == 0o600
    cert = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"
    name = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert "landingpad demo CA" in name and ca.common_name == name
    assert cert.subject == cert.issuer
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=365) <= lifetime <= dt.timedelta(days=366)
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca
    constraints = cert.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert constraints.value.permitted_subtrees == [x509.DNSName("localhost")]
    assert {str(n.value) for n in constraints.value.excluded_subtrees} == {"0.0.0.0/0", "::/0"}

    again = localca.load_or_create(tmp_path)
    assert not again.created and again.cert == ca.cert  # kept: the person trusts it once


def test_a_ca_whose_key_does_not_match_or_that_is_near_its_end_is_replaced(tmp_path):
    first = localca.load_or_create(tmp_path)
    key_path = tmp_path / "tls" / "demo-ca" / "ca.key"
    other = ec.generate_private_key(ec.SECP256R1())
    key_path.write_bytes(other.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    second = localca.load_or_create(tmp_path)
    assert second.created and second.cert != first.cert
    assert mode(key_path) == 0o600
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=340)
    third = localca.load_or_create(tmp_path, now=later)
    assert third.created and third.not_after > later + dt.timedelta(days=300)


def test_a_leaf_verifies_for_its_localhost_name_and_the_constraints_hold(tmp_path):
    ca = localca.load_or_create(tmp_path)
    chain, key = ca.issue("www.coffee.localhost")
    cert = x509.load_pem_x509_certificate(chain)
    assert cert.public_key().curve.name == "secp256r1"
    assert serialization.load_pem_private_key(key, None).public_key() == cert.public_key()
    assert cert.not_valid_after_utc <= ca.not_after
    ok = openssl_verify(tmp_path, ca.cert_path, chain, "www.coffee.localhost")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    wrong = openssl_verify(tmp_path, ca.cert_path, chain, "coffee.localhost")
    assert wrong.returncode != 0

    with pytest.raises(ValueError, match="localhost"):
        ca.issue("example.com")
    # Even a leaf its key signs for another name (as a thief could) fails verification.
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    forged = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.com")]))
              .issuer_name(ca.cert.subject).public_key(leaf_key.public_key())
              .serial_number(x509.random_serial_number())
              .not_valid_before(now - dt.timedelta(minutes=1))
              .not_valid_after(now + dt.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([x509.DNSName("example.com")]),
                             critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                  ca.key.public_key()), critical=False)
              .sign(ca.key, hashes.SHA256()))
    refused = openssl_verify(tmp_path, ca.cert_path,
                             forged.public_bytes(serialization.Encoding.PEM), "example.com")
    assert refused.returncode != 0 and "subtree" in (refused.stdout + refused.stderr)


def test_sync_issues_every_localhost_host_once_skips_others_and_retires_removed(tmp_path):
    ca = localca.load_or_create(tmp_path)
    issuer = localca.LocalIssuer(tmp_path, ca)
    report = issuer.sync(config())
    hosts = ["books.localhost", "coffee.localhost", "www.coffee.localhost"]
    assert report.issued == hosts and report.first and report.changed
    assert report.skipped == ["shop.test"]
    assert store.served_hosts(tmp_path) == hosts
    for host in hosts:
        path = store.pem_path(tmp_path, host)
        assert mode(path) == 0o640
        assert ca.signed(store.leaf(store.read_pair(tmp_path, host).chain_pem))
    assert mode(store.live_dir(tmp_path)) & 0o777 == 0o750

    quiet = issuer.sync(config())  # nothing to do; shop.test is not reported again
    assert (quiet.issued, quiet.skipped, quiet.changed) == ([], [], False)

    # A fresh issuer (a demo restarted) keeps the files this CA signed.
    assert localca.LocalIssuer(tmp_path, ca).sync(config()).issued == []

    # Removing books.localhost retires its file; the others stay.
    gone = issuer.sync(config(SITES.replace('[sites."books.localhost"]\nLANDING_TITLE = '
                                            '"Books"\n', "")))
    assert gone.retired == ["books.localhost"] and gone.changed and not gone.first
    assert store.served_hosts(tmp_path) == ["coffee.localhost", "www.coffee.localhost"]


def test_renewal_keeps_the_key_and_another_cas_file_is_resigned(tmp_path):
    ca = localca.load_or_create(tmp_path)
    issuer = localca.LocalIssuer(tmp_path, ca)
    issuer.sync(config())
    before = store.read_pair(tmp_path, "coffee.localhost")
    later = before.not_after - dt.timedelta(days=10)  # inside the last third
    report = issuer.sync(config(), now=later)
    assert "coffee.localhost" in report.issued and not report.first  # no re-render needed
    after = store.read_pair(tmp_path, "coffee.localhost")
    assert after.key_pem == before.key_pem and after.not_after > before.not_after

    # A new CA (the old one replaced): every file is re-signed, keys kept.
    (tmp_path / "tls" / "demo-ca" / "ca.key").unlink()
    new_ca = localca.load_or_create(tmp_path)
    assert new_ca.created
    report = localca.LocalIssuer(tmp_path, new_ca).sync(config())
    assert sorted(report.issued) == ["books.localhost", "coffee.localhost",
                                     "www.coffee.localhost"]
    resigned = store.read_pair(tmp_path, "coffee.localhost")
    assert resigned.key_pem == before.key_pem
    assert new_ca.signed(store.leaf(resigned.chain_pem))


def test_hosts_with_the_owners_own_certificate_get_none(tmp_path):
    cert, key = tmp_path / "own.crt", tmp_path / "own.key"
    cert.write_text("x")
    key.write_text("x")
    text = SITES.replace('LANDING_TITLE = "Books"\n', f'LANDING_TITLE = "Books"\n'
                         f'tls_certificate = "{cert}"\ntls_certificate_key = "{key}"\n')
    report = localca.LocalIssuer(tmp_path, localca.load_or_create(tmp_path)).sync(config(text))
    assert report.issued == ["coffee.localhost", "www.coffee.localhost"]


def test_run_serves_a_host_added_to_the_sites_file_within_a_second(tmp_path):
    sites = tmp_path / "sites.toml"
    sites.write_text(SITES)

    class Registry:  # what run() asks of the app's site registry
        def __init__(self):
            self.config = parse_sites(sites.read_text(), sites)

        def reload(self):
            self.config = parse_sites(sites.read_text(), sites)
            return True

    class App:
        extensions = {"landingpad.sites": Registry()}

    refreshed, synced = [], []
    stop = threading.Event()
    issuer = localca.LocalIssuer(tmp_path, localca.load_or_create(tmp_path))
    thread = threading.Thread(target=localca.run, args=(App(), issuer, stop),
                              kwargs={"interval": 0.1,
                                      "on_sync": lambda r, m: synced.append(r),
                                      "refresh": lambda app: refreshed.append(1) or ["ok"]})
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not refreshed and time.monotonic() < deadline:
            time.sleep(0.05)
        assert refreshed, "the first pass gave files: nginx re-rendered"
        sites.write_text(SITES + '\n[sites."new.localhost"]\nLANDING_TITLE = "New"\n')
        started = time.monotonic()
        while not os.path.exists(store.pem_path(tmp_path, "new.localhost")):
            assert time.monotonic() - started < 30, "the new host never got a certificate"
            time.sleep(0.02)
        while len(refreshed) < 2:
            assert time.monotonic() - started < 30, "nginx never re-rendered"
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert any("new.localhost" in r.issued for r in synced)
