"""The demo's throwaway certificate authority: HTTPS for ``*.localhost`` with no ACME CA.

``landingpad demo`` without LANDINGPAD_ACME_DIRECTORY makes one CA per data dir
(DATA_DIR/tls/demo-ca/: ca.pem, and ca.key 0600 in a 0700 folder) and signs a
leaf for every host of the sites file, written as the ACME worker writes its
own (tls.store.write_pair: DATA_DIR/tls/live/<host>.pem), so nginx serves them
through the same certificate map. The person running the demo trusts ca.pem
(curl --cacert, or a browser import) to see the padlock.

The CA's name constraints limit it to ``localhost`` and the names under it, and
exclude every IP address: a browser that trusts it trusts nothing else, even if
its key leaked. Hosts outside ``.localhost`` get no certificate from it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flask import Flask

from landingpad.files import PASSAGE_DIR, PRIVATE_DIR, PRIVATE_FILE, make_dir, write_atomic
from landingpad.sites import get_registry
from landingpad.sites.sitesfile import SitesConfig
from landingpad.tls import store

log = logging.getLogger(__name__)

CA_NAME = "landingpad demo CA (throwaway, *.localhost only)"
CA_LIFETIME = dt.timedelta(days=365)
# A CA this close to its end is replaced (with every leaf) when the demo starts, so
# no leaf is cut short by its issuer's expiry while the demo runs.
CA_MIN_LEFT = dt.timedelta(days=30)
LEAF_LIFETIME = dt.timedelta(days=90)
BACKDATE = dt.timedelta(minutes=5)  # a clock a little behind still accepts a new leaf
PERMITTED_DOMAIN = "localhost"


def ca_dir(data_dir: Path | str) -> Path:
    return store.tls_dir(Path(data_dir)) / "demo-ca"


def covers(host: str) -> bool:
    """Whether the demo CA may sign ``host`` (its name constraints: localhost and below)."""
    return host == PERMITTED_DOMAIN or host.endswith("." + PERMITTED_DOMAIN)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _key_usage(**on: bool) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment",
             "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
             "encipher_only", "decipher_only")
    return x509.KeyUsage(**{name: on.get(name, False) for name in names})


@dataclass(frozen=True)
class LocalCA:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_path: Path  # what the person trusts (curl --cacert, a browser import)
    created: bool = False  # made by this call (the person must trust it anew)

    @property
    def common_name(self) -> str:
        return str(self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)

    @property
    def not_after(self) -> dt.datetime:
        return self.cert.not_valid_after_utc

    def signed(self, leaf: x509.Certificate) -> bool:
        """Whether this CA (this key, not just its name) signed ``leaf``."""
        try:
            leaf.verify_directly_issued_by(self.cert)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True

    def issue(self, host: str, key_pem: bytes | None = None,
              now: dt.datetime | None = None) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM) for ``host``; its key is ``key_pem`` (kept across
        renewals, as tls.store asks) or a new ECDSA P-256 one."""
        if not covers(host):
            raise ValueError(f"{host}: the demo CA signs only {PERMITTED_DOMAIN} and names "
                             "under it")
        now = now or _now()
        key = (serialization.load_pem_private_key(key_pem, password=None) if key_pem
               else ec.generate_private_key(ec.SECP256R1()))
        # A CN holds at most 64 characters; the name that counts is the subjectAltName.
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]
                            if len(host) <= 64 else [])
        cert = (x509.CertificateBuilder()
                .subject_name(subject).issuer_name(self.cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(max(now - BACKDATE, self.cert.not_valid_before_utc))
                .not_valid_after(min(now + LEAF_LIFETIME, self.not_after))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]),
                               critical=not subject)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                               critical=True)
                .add_extension(_key_usage(digital_signature=True), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.key.public_key()), critical=False)
                .sign(self.key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def _make_ca(now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "landingpad demo"),
        # Tells two demo CAs apart in a browser's list of trusted authorities.
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME,
                           f"made {now:%Y-%m-%d %H:%M:%S} UTC"),
    ])
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE).not_valid_after(now + CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(digital_signature=True, key_cert_sign=True,
                                      crl_sign=True), critical=True)
            .add_extension(x509.NameConstraints(
                permitted_subtrees=[x509.DNSName(PERMITTED_DOMAIN)],
                excluded_subtrees=[x509.IPAddress(ipaddress.ip_network("0.0.0.0/0")),
                                   x509.IPAddress(ipaddress.ip_network("::/0"))]),
                critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return cert, key


def _load(folder: Path, now: dt.datetime) -> LocalCA | None:
    """The CA on disk if it is whole, matches its key, and has time left; else None."""
    try:
        cert = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
        key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(serialization.Encoding.DER, spki) != \
            key.public_key().public_bytes(serialization.Encoding.DER, spki):
        return None  # a crash between the two writes: make a new pair
    if cert.not_valid_after_utc - now < CA_MIN_LEFT:
        return None
    return LocalCA(cert, key, folder / "ca.pem")


def load_or_create(data_dir: Path | str, now: dt.datetime | None = None) -> LocalCA:
    """The data dir's demo CA, made on first use (or when the old one is near its end)."""
    now = now or _now()
    make_dir(store.tls_dir(Path(data_dir)), PASSAGE_DIR)
    folder = make_dir(ca_dir(data_dir), PRIVATE_DIR)
    found = _load(folder, now)
    if found is not None:
        return found
    cert, key = _make_ca(now)
    # The key first: a crash between the writes leaves a mismatch, which _load refuses.
    for path in (folder / "ca.key", folder / "ca.pem"):
        path.unlink(missing_ok=True)  # write_atomic keeps an existing file's mode
    write_atomic(folder / "ca.key", _pem_key(key), PRIVATE_FILE)
    write_atomic(folder / "ca.pem", cert.public_bytes(serialization.Encoding.PEM), 0o644)
    log.info("made the demo CA %s", folder / "ca.pem")
    return LocalCA(cert, key, folder / "ca.pem", created=True)


@dataclass
class SyncReport:
    issued: list[str] = field(default_factory=list)
    first: bool = False  # some host got its first file: nginx's maps must be re-rendered
    retired: list[str] = field(default_factory=list)  # hosts gone from the sites file
    skipped: list[str] = field(default_factory=list)  # not under .localhost: no certificate

    @property
    def changed(self) -> bool:
        return self.first or bool(self.retired)


class LocalIssuer:
    """Keeps DATA_DIR/tls/live in step with the sites file, from the demo CA.

    Every host of the sites file under .localhost (domains and aliases, but not those
    served with the owner's own certificate) has a file signed by this CA, renewed
    when a third of its lifetime is left; the file of a host gone from the sites file
    is retired. A host already checked is not read again until its renewal time, so
    a pass costs one directory listing.
    """

    def __init__(self, data_dir: Path | str, ca: LocalCA) -> None:
        self.data_dir = Path(data_dir)
        self.ca = ca
        self._renew_at: dict[str, dt.datetime] = {}
        self._skipped: set[str] = set()

    def sync(self, config: SitesConfig, now: dt.datetime | None = None) -> SyncReport:
        now = now or _now()
        report = SyncReport()
        own = {host for host, domain in config.hosts.items() if domain in config.tls}
        wanted = sorted(set(config.hosts) - own)
        served = set(store.served_hosts(self.data_dir))
        for host in wanted:
            if not covers(host):
                if host not in self._skipped:  # said once per host, not every pass
                    report.skipped.append(host)
                    self._skipped.add(host)
                continue
            if host in served and now < self._renew_at.get(host, now):
                continue
            try:
                renew_at, issued, first = self._ensure(host, host in served, now)
            except (OSError, ValueError) as exc:  # one bad host must not stop the others
                log.error("demo certificate for %s not written: %s", host, exc)
                continue
            if issued:
                report.issued.append(host)
                report.first |= first
            self._renew_at[host] = renew_at
        for host in sorted(served - set(config.hosts)):
            if store.retire(self.data_dir, host):
                report.retired.append(host)
            self._renew_at.pop(host, None)
        self._skipped &= set(wanted)
        return report

    def _ensure(self, host: str, has_file: bool,
                now: dt.datetime) -> tuple[dt.datetime, bool, bool]:
        """(when to look again, whether a new file was written, whether it is the host's
        first): the file is kept while this CA signed it for this name and it is not due."""
        key_pem = None
        if has_file:
            try:
                pair = store.read_pair(self.data_dir, host)
            except ValueError:
                pair = None  # unreadable: replaced, with a new key
            if pair is not None:
                cert = store.leaf(pair.chain_pem)
                renew_at = pair.not_after - (pair.not_after - pair.not_before) / 3
                if self.ca.signed(cert) and now < renew_at and _names(cert) == [host]:
                    return renew_at, False, False
                key_pem = pair.key_pem  # renewed (or re-signed by this CA): same key
        chain_pem, key_pem = self.ca.issue(host, key_pem, now)
        first = store.write_pair(self.data_dir, host, chain_pem, key_pem)
        cert = store.leaf(chain_pem)
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        return cert.not_valid_after_utc - lifetime / 3, True, first


def _names(cert: x509.Certificate) -> list[str]:
    try:
        return cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        return []


def run(app: Flask, issuer: LocalIssuer, stop: threading.Event, interval: float = 0.5,
        on_sync: Callable[[SyncReport, list[str]], None] | None = None,
        refresh: Callable[[Flask], list[str]] | None = None) -> None:
    """Until ``stop`` is set: a pass every ``interval`` seconds, so a host added with
    `domain add` is served over HTTPS within about a second. A pass that gave a host
    its first file (or retired one) re-renders nginx's maps (a reload, not a restart);
    ``on_sync`` gets the report and what the re-render said."""
    if refresh is None:
        from landingpad.tls.worker import refresh_nginx as refresh
    registry = get_registry(app)
    while not stop.is_set():
        started = time.monotonic()
        try:
            registry.reload()
            report = issuer.sync(registry.config)
            messages = refresh(app) if report.changed else []
            if on_sync is not None and (report.issued or report.retired or report.skipped):
                on_sync(report, messages)
        except Exception:  # keep serving the demo; the next pass tries again
            log.exception("demo certificates: pass failed")
        stop.wait(max(interval - (time.monotonic() - started), 0.05))
