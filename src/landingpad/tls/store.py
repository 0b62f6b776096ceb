"""Certificate files: one ``<host>.pem`` per host (chain, then key) that nginx reads per handshake.

One file, replaced by a rename, so a reader sees the old pair or the new one. nginx
opens the path twice per handshake (certificate, then key), so a rename landing
between the two could still pair a new certificate with the old key; renewals
therefore keep the host's key, and only a first issue (no file yet) brings a new
one. Files are 0640 in a setgid 2750 folder: nginx's workers (its group) read
them, nobody else does.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from landingpad.files import PASSAGE_DIR, SHARED_DIR, SHARED_FILE, make_dir, write_atomic
from landingpad.sites.host import InvalidHost, normalize_host

KEY_MARKERS = (b"-----BEGIN PRIVATE KEY-----", b"-----BEGIN EC PRIVATE KEY-----",
               b"-----BEGIN RSA PRIVATE KEY-----")


def tls_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "tls"


def live_dir(data_dir: Path) -> Path:
    """Where nginx finds each host's certificate (deploy's render lists it)."""
    return tls_dir(data_dir) / "live"


def _checked(host: str) -> str:
    """Only a normalised host name becomes a file name (no path, no upper case)."""
    try:
        if normalize_host(host) == host:
            return host
    except InvalidHost:
        pass
    raise ValueError(f"{host!r} is not a normalised host name")


def pem_path(data_dir: Path, host: str) -> Path:
    return live_dir(data_dir) / f"{_checked(host)}.pem"


@dataclass(frozen=True)
class Pair:
    chain_pem: bytes
    key_pem: bytes
    not_before: datetime
    not_after: datetime


def split_pem(data: bytes) -> tuple[bytes, bytes]:
    """(chain, key) from one combined file."""
    for marker in KEY_MARKERS:
        at = data.find(marker)
        if at >= 0:
            return data[:at], data[at:]
    raise ValueError("no private key in the file")


def leaf(chain_pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(chain_pem)


def read_pair(data_dir: Path, host: str) -> Pair | None:
    """The pair served for ``host`` now, or None; ValueError if the file is not one."""
    try:
        data = pem_path(data_dir, host).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    chain, key = split_pem(data)
    try:
        cert = leaf(chain)
    except ValueError as exc:
        raise ValueError(f"no readable certificate ({exc})") from None
    return Pair(chain, key, cert.not_valid_before_utc, cert.not_valid_after_utc)


@dataclass(frozen=True)
class FileInfo:
    not_after: datetime
    fingerprint: str  # sha256 of the chain: what the shared store compares


_info_cache: dict[Path, tuple[tuple[int, int, int], FileInfo]] = {}


def file_info(data_dir: Path, host: str) -> FileInfo | None:
    """A served file's expiry and fingerprint, parsed once per version of the file.

    A pass looks at every file (10,000 of them on a big install) every time: a stat
    each, and a parse only for files that changed since.
    """
    path = pem_path(data_dir, host)
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        _info_cache.pop(path, None)
        return None
    stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
    cached = _info_cache.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    pair = read_pair(data_dir, host)  # ValueError for a file that isn't a whole pair
    if pair is None:
        return None
    info = FileInfo(pair.not_after, hashlib.sha256(pair.chain_pem).hexdigest())
    _info_cache[path] = (stamp, info)
    return info


def served_pair(data_dir: Path, host: str) -> Pair | None:
    """read_pair, with a broken file read as none (the next pass takes it out of service)."""
    try:
        return read_pair(data_dir, host)
    except ValueError:
        return None


def write_pair(data_dir: Path, host: str, chain_pem: bytes, key_pem: bytes) -> bool:
    """Install a new pair for ``host`` as one unit. True if the host had no file before."""
    # Refuse a pair that does not match before nginx ever sees it.
    cert = leaf(chain_pem)
    key = serialization.load_pem_private_key(key_pem, password=None)
    if cert.public_key().public_bytes(serialization.Encoding.DER,
                                      serialization.PublicFormat.SubjectPublicKeyInfo) != \
            key.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo):
        raise ValueError(f"{host}: the certificate does not match its key")
    make_dir(tls_dir(data_dir), PASSAGE_DIR)
    folder = make_dir(live_dir(data_dir), SHARED_DIR)
    path = pem_path(data_dir, host)
    first = not path.exists()
    body = chain_pem if chain_pem.endswith(b"\n") else chain_pem + b"\n"
    write_atomic(folder / path.name, body + key_pem, SHARED_FILE)
    return first


def retire(data_dir: Path, host: str) -> bool:
    """Stop serving ``host``'s file (expired, or the host removed); kept in tls/expired/.

    True if there was one. Kept rather than deleted: its key may be wanted for a
    renewal order, and an owner can look at what was served.
    """
    path = pem_path(data_dir, host)
    if not path.exists():
        return False
    folder = make_dir(tls_dir(data_dir) / "expired", 0o700)
    os.replace(path, folder / path.name)
    return True


def served_hosts(data_dir: Path) -> list[str]:
    """Hosts that have a file in live/ (what nginx serves and redirects)."""
    try:
        names = os.listdir(live_dir(data_dir))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(n[:-4] for n in names if n.endswith(".pem") and not n.startswith("."))


EXPIRED_KEEP_DAYS = 30
TEMP_MAX_AGE = 3600


def sweep(data_dir: Path) -> None:
    """Old keys don't pile up: retired files go after 30 days (a removed or sold domain's
    key included), and a crashed write's temp file (0600, a key inside) after an hour."""
    now = time.time()
    for folder, prefix, age in ((tls_dir(data_dir) / "expired", "", EXPIRED_KEEP_DAYS * 86400),
                                (live_dir(data_dir), ".", TEMP_MAX_AGE)):
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.name.startswith(prefix) and entry.is_file(follow_symlinks=False) \
                    and now - entry.stat(follow_symlinks=False).st_mtime > age:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
