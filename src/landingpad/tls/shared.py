"""Every node serves every certificate: the pairs travel through the shared database.

nginx reads local files (a network file system in the handshake path would make
every full handshake wait for it), so each node's worker pass copies what the
orderer stored into its own ``tls/live/``. Stored encrypted (Fernet, a key derived
from the install's secret key, which every node of a shared database has): a
database dump or backup alone gives no private key away.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from landingpad.storage.models import SharedCertificate
from landingpad.storage.types import utcnow
from landingpad.tls import store


def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"landingpad tls files").derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def fingerprint(chain_pem: bytes) -> str:
    """As store.file_info computes it."""
    return hashlib.sha256(chain_pem).hexdigest()


def save(session: Session, secret_key: str, host: str, pair: store.Pair) -> None:
    """Store ``host``'s pair for the other nodes (replacing the one before)."""
    row = session.get(SharedCertificate, host) or SharedCertificate(host=host)
    row.fingerprint = fingerprint(pair.chain_pem)
    row.sealed = _fernet(secret_key).encrypt(pair.chain_pem + b"\x00" + pair.key_pem)
    row.not_after, row.updated_at = pair.not_after, utcnow()
    session.add(row)


def drop(session: Session, hosts: list[str]) -> None:
    if hosts:
        session.execute(delete(SharedCertificate).where(SharedCertificate.host.in_(hosts)))


@dataclass
class Pulled:
    updated: list[str] = field(default_factory=list)  # copied into this node's files
    first: list[str] = field(default_factory=list)  # ... of which hosts had none before
    unsealable: list[str] = field(default_factory=list)  # sealed with another secret key


def pull(session: Session, secret_key: str, data_dir: Path, wanted: set[str]) -> Pulled:
    """Copy stored pairs that differ from this node's files.

    Only for hosts this node's sites file has; an expired one is left alone (the
    pass retires it). A pair this node can't unseal (another LANDINGPAD_SECRET_KEY)
    is reported, never served half.
    """
    result = Pulled()
    now = utcnow()
    stored = session.execute(select(SharedCertificate.host, SharedCertificate.fingerprint)
                             .where(SharedCertificate.not_after > now)).all()
    for host, stored_fingerprint in stored:
        if host not in wanted:
            continue
        try:
            info = store.file_info(data_dir, host)
        except ValueError:
            info = None  # a broken local file: the stored pair replaces it
        if info is not None and info.fingerprint == stored_fingerprint:
            continue
        row = session.get(SharedCertificate, host)  # only now: the sealed pair itself
        if row is None:
            continue
        try:
            chain, _, key = _fernet(secret_key).decrypt(row.sealed).partition(b"\x00")
        except InvalidToken:
            result.unsealable.append(host)
            continue
        if store.write_pair(data_dir, host, chain, key):
            result.first.append(host)
        result.updated.append(host)
    return result
