"""A throwaway CA for tests: certificates per host, written as the tls package writes them
(DATA_DIR/tls/live/<host>.pem: the chain, then the key, replaced by an atomic rename)."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from landingpad.files import SHARED_DIR, SHARED_FILE, make_dir


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


@dataclass
class ThrowawayCA:
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    serial: int = 1

    def __post_init__(self) -> None:
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder().subject_name(_name("landingpad test CA"))
            .issuer_name(_name("landingpad test CA")).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self.key, hashes.SHA256()))

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, host: str, key: ec.EllipticCurvePrivateKey | None = None,
              also: tuple[str, ...] = ()) -> tuple[bytes, bytes, int]:
        """(chain PEM, key PEM, serial) of a fresh certificate for ``host`` (and ``also``)."""
        key = key or ec.generate_private_key(ec.SECP256R1())
        self.serial += 1
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(_name(host)).issuer_name(self.cert.subject)
            .public_key(key.public_key()).serial_number(self.serial)
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(name) for name in (host, *also)]), critical=False)
            .sign(self.key, hashes.SHA256()))
        chain = cert.public_bytes(serialization.Encoding.PEM) + self.pem
        key_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return chain, key_pem, self.serial

    def write_live(self, data_dir: Path, host: str,
                   key: ec.EllipticCurvePrivateKey | None = None) -> int:
        """Put ``host``'s certificate into DATA_DIR/tls/live by rename; its serial."""
        chain, key_pem, serial = self.issue(host, key)
        folder = make_dir(Path(data_dir) / "tls" / "live", SHARED_DIR)
        tmp = folder / f".{host}.pem.tmp"
        tmp.write_bytes(chain + key_pem)
        os.chmod(tmp, SHARED_FILE)
        os.replace(tmp, folder / f"{host}.pem")
        return serial

    def write_pair(self, folder: Path, host: str, *also: str) -> tuple[Path, Path]:
        """The owner's own certificate and key, as two files (domain add --tls-cert/-key)."""
        chain, key_pem, _ = self.issue(host, also=also)
        cert, key = Path(folder) / f"{host}.crt", Path(folder) / f"{host}.key"
        cert.write_bytes(chain)
        key.write_bytes(key_pem)
        return cert, key
