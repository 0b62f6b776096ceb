"""DKIM signing per sending domain (dkimpy), with keys kept in $LANDINGPAD_DATA_DIR/dkim."""

from __future__ import annotations

import base64
import logging
import os
import threading
from email.message import EmailMessage
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from landingpad.files import PRIVATE_DIR, PRIVATE_FILE, make_dir
from landingpad.mail.message import envelope_address

log = logging.getLogger(__name__)

SELECTOR = "landingpad"
# RFC 1035: one character-string in a TXT record holds at most 255 octets.
TXT_CHUNK = 255
# What the signature covers: the identity, the subject and the one-click unsubscribe.
SIGNED_HEADERS = [b"From", b"To", b"Subject", b"Date", b"Message-ID", b"Reply-To",
                  b"List-Unsubscribe", b"List-Unsubscribe-Post"]
# Each is listed once more than a message has it ("oversigning", RFC 6376 8.15): a
# header added after signing (a second From, a Reply-To a confirmation never had)
# breaks the signature instead of riding on it. Our messages have each at most once.
OVERSIGNED_HEADERS = SIGNED_HEADERS * 2


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
    value = f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"
    # A 2048-bit key makes a value longer than one character-string may be: split it
    # into quoted strings of at most 255 characters, which a resolver joins back.
    # (The value is base64 and ASCII letters: no quoting or escaping is needed.)
    chunks = " ".join(f'"{value[i:i + TXT_CHUNK]}"' for i in range(0, len(value), TXT_CHUNK))
    return f"{selector}._domainkey.{domain}. IN TXT {chunks}"


def signing_domain(from_address: str) -> str:
    """The one rule for every mail of a site: sign with the key of the From domain.

    The domain in its ASCII (IDNA) form, lower case: the name keys are filed under.
    """
    return envelope_address(from_address).rpartition("@")[2]


# Domains this process already warned about having no key: once each, not once per mail.
_unsigned_warned: set[str] = set()
_warn_lock = threading.Lock()


def _warn_unsigned(domain: str) -> None:
    with _warn_lock:
        if domain in _unsigned_warned:
            return
        _unsigned_warned.add(domain)
    log.warning("no DKIM key for %s: its mail goes out unsigned "
                "(run `landingpad dkim generate %s`)", domain, domain)


class Signer:
    """Turns a message into the bytes to send, signed when its From domain has a key.

    It lives as long as the app (mail.outbox): a key is read again when its file
    appears, changes or goes, so `dkim generate` needs no restart. One stat per mail.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        # domain -> (the key file's mtime or None, its bytes or None)
        self._keys: dict[str, tuple[int | None, bytes | None]] = {}

    def _key(self, domain: str) -> bytes | None:
        path = key_path(self.folder, domain)
        try:
            stamp: int | None = path.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = None
        cached = self._keys.get(domain)
        if cached is None or cached[0] != stamp:
            try:
                key = path.read_bytes() if stamp is not None else None
            except FileNotFoundError:  # deleted between the stat and the read
                key = None
            cached = self._keys[domain] = (stamp, key)
        return cached[1]

    def __call__(self, message: EmailMessage) -> bytes:
        [sender] = message["From"].addresses  # build_message makes exactly one
        return self.sign(message.as_bytes(), signing_domain(sender.addr_spec))

    def sign_as(self, data: bytes, from_address: str) -> bytes:
        """Finished bytes (e.g. an announcement's) signed by the rule of every other mail."""
        return self.sign(data, signing_domain(from_address))

    def sign(self, data: bytes, domain: str) -> bytes:
        """The bytes to send: ``data`` with a DKIM-Signature when ``domain`` has a key.

        ``domain`` comes from signing_domain(): callers never pick it themselves.
        """
        key = self._key(domain)
        if key is None:
            _warn_unsigned(domain)
            return data
        signature = dkim.sign(data, SELECTOR.encode(), domain.encode(), key,
                              include_headers=OVERSIGNED_HEADERS)
        return signature + data
