"""DKIM signing per sending domain (dkimpy), with keys kept in $LANDINGPAD_DATA_DIR/dkim."""

from __future__ import annotations

import base64
import os
from email.message import EmailMessage
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from landingpad.files import PRIVATE_DIR, PRIVATE_FILE, make_dir

SELECTOR = "landingpad"
# What the signature covers: the identity, the subject and the one-click unsubscribe.
SIGNED_HEADERS = [b"From", b"To", b"Subject", b"Date", b"Message-ID", b"Reply-To",
                  b"List-Unsubscribe", b"List-Unsubscribe-Post"]


def key_path(folder: Path, domain: str, selector: str = SELECTOR) -> Path:
    return folder / f"{domain}.{selector}.pem"


def generate(folder: Path, domain: str, selector: str = SELECTOR) -> str:
    """Create a 2048-bit RSA key (0600) and return the DNS TXT record to publish."""
    path = key_path(folder, domain, selector)
    if path.exists():
        raise FileExistsError(f"{path} exists; delete it first to make a new key")
    make_dir(folder, PRIVATE_DIR)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)  # exactly 0600, whatever the umask
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return txt_record(path, domain, selector)


def txt_record(path: Path, domain: str, selector: str = SELECTOR) -> str:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return (f'{selector}._domainkey.{domain}. IN TXT '
            f'"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"')


class Signer:
    """Turns a message into the bytes to send, signed when its From domain has a key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._keys: dict[str, bytes | None] = {}

    def _key(self, domain: str) -> bytes | None:
        if domain not in self._keys:
            path = key_path(self.folder, domain)
            self._keys[domain] = path.read_bytes() if path.exists() else None
        return self._keys[domain]

    def __call__(self, message: EmailMessage) -> bytes:
        return self.sign(message.as_bytes(), message["From"].addresses[0].domain.lower())

    def sign(self, data: bytes, domain: str) -> bytes:
        """The bytes to send: ``data`` with a DKIM-Signature when ``domain`` has a key."""
        key = self._key(domain)
        if key is None:
            return data
        head = data.split(b"\r\n\r\n", 1)[0].lower()
        present = [h for h in SIGNED_HEADERS if b"\r\n" + h.lower() + b":" in b"\r\n" + head]
        signature = dkim.sign(data, SELECTOR.encode(), domain.encode(), key,
                              include_headers=present)
        return signature + data
