"""Where uploaded assets live: a folder in the data dir, or an S3 bucket.

Both are addressed by the same keys (``<domain>/<uuid4 hex>.<ext>``) and reached
by visitors at the same path on the site's own origin, ``/assets/<key>``: nginx
serves the folder, or proxies the bucket, so no page ever loads from a third party.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from flask import Flask, current_app

from landingpad.files import (
    PASSAGE_DIR,
    SHARED_DIR,
    SHARED_FILE,
    UnsafePath,
    make_dir,
    safe_relative_path,
    write_atomic,
)
from landingpad.sites.host import InvalidHost, normalize_host

# The image types an asset may be, by the extension its key ends in. SVG is not
# here on purpose: it is XML that can carry script.
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif",
                 "webp": "image/webp"}
# The first part is a site's domain: dot-separated labels, so never "." or "..".
_DOMAIN = r"(?P<domain>[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?)"
KEY = re.compile(rf"^{_DOMAIN}/[0-9a-f]{{32}}\.(?:" + "|".join(CONTENT_TYPES) + ")$")
# Where browser-direct uploads land before they are checked: never served (nginx
# answers 404 under /assets/incoming/), moved to a KEY once verified.
INCOMING = re.compile(rf"^incoming/{_DOMAIN}/[0-9a-f]{{32}}$")
CACHE_CONTROL = "public, max-age=31536000, immutable"  # keys are never reused
PRESIGN_SECONDS = 300


class StoreError(RuntimeError):
    """The store could not be reached or refused the operation."""


def new_key(domain: str, extension: str) -> str:
    return f"{domain}/{uuid.uuid4().hex}.{extension}"


def incoming_key(domain: str) -> str:
    return f"incoming/{domain}/{uuid.uuid4().hex}"


class BadKey(ValueError):
    """Not an asset key: it could name something outside the store, or nothing we made."""


def check_key(key: str, incoming: bool = False) -> str:
    """The one check for every asset key, whether from a URL, a setting, a form or a store call.

    ``<domain>/<uuid4 hex>.<ext>`` (or ``incoming/<domain>/<uuid4 hex>`` when
    ``incoming``), where the domain is a host name in its normal form and no
    part is ".." or "." (files.safe_relative_path). The caller passes the key
    decoded once, as Werkzeug routes it: a "%" left in it is refused.
    """
    try:
        safe_relative_path(key)
    except UnsafePath as exc:
        raise BadKey(f"not an asset key ({exc}): {key!r}") from None
    match = KEY.fullmatch(key) or (INCOMING.fullmatch(key) if incoming else None)
    try:
        if match is None or normalize_host(match["domain"]) != match["domain"]:
            raise BadKey(f"not an asset key: {key!r}")
    except InvalidHost:
        raise BadKey(f"not an asset key: {key!r}") from None
    return key


def is_key(key: str) -> bool:
    """A key visitors may be served (never an incoming one)."""
    try:
        check_key(key)
    except BadKey:
        return False
    return True


def _checked(key: str) -> str:
    return check_key(key, incoming=True)


def asset_url(key: str) -> str:
    """The path a page uses: always on the site's own origin."""
    return f"/assets/{key}"


@dataclass
class Stored:
    stream: BinaryIO
    content_type: str
    size: int

    def chunks(self, size: int = 64 * 1024) -> Iterator[bytes]:
        try:
            while chunk := self.stream.read(size):
                yield chunk
        finally:
            self.stream.close()


def read(store: AssetStore, key: str, limit: int) -> bytes | None:
    """Up to ``limit`` bytes of an object, or None if it is not there."""
    stored = store.open(key)
    if stored is None:
        return None
    with stored.stream:
        return stored.stream.read(limit)


class AssetStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...
    def open(self, key: str) -> Stored | None: ...
    def delete(self, key: str) -> None: ...
    def presigned_post(self, key: str, max_bytes: int, redirect: str) -> dict | None: ...


class LocalStore:
    """Files under a folder; nginx serves it as /assets/."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _checked(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        # nginx workers (the app's group) read these; nobody else needs to.
        make_dir(self.root, SHARED_DIR, parents_mode=PASSAGE_DIR)
        make_dir(path.parent, SHARED_DIR, parents_mode=SHARED_DIR)
        write_atomic(path, data, SHARED_FILE)

    def open(self, key: str) -> Stored | None:
        try:
            stream = self._path(key).open("rb")
        except (FileNotFoundError, ValueError):
            return None
        content_type = CONTENT_TYPES.get(key.rsplit(".", 1)[-1], "application/octet-stream")
        return Stored(stream, content_type, os.fstat(stream.fileno()).st_size)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def presigned_post(self, key: str, max_bytes: int, redirect: str) -> dict | None:
        return None  # no browser-direct upload to a folder: the form posts to the admin


class S3Store:
    """Objects in a bucket under an optional prefix (boto3; credentials from its usual chain)."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str = "",
                 acl: str = "") -> None:
        self.bucket, self.prefix, self.acl = bucket, prefix, acl
        self.endpoint_url = endpoint_url or None
        self._clients: dict[int, Any] = {}
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        # One client per process: uWSGI forks after the app is built.
        pid = os.getpid()
        with self._lock:
            if pid not in self._clients:
                import boto3
                from botocore.config import Config

                style = "path" if self.endpoint_url else "auto"
                self._clients = {pid: boto3.client(
                    "s3", endpoint_url=self.endpoint_url,
                    config=Config(s3={"addressing_style": style}, connect_timeout=5,
                                  read_timeout=20, retries={"max_attempts": 3}))}
            return self._clients[pid]

    def _key(self, key: str) -> str:
        return self.prefix + _checked(key)

    def _call(self, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise StoreError(f"S3 {method} failed: {exc}") from None
        except BotoCoreError as exc:
            raise StoreError(f"S3 {method} failed: {exc}") from None

    def put(self, key: str, data: bytes, content_type: str) -> None:
        extra = {"ACL": self.acl} if self.acl else {}
        self._call("put_object", Key=self._key(key), Body=data, ContentType=content_type,
                   CacheControl=CACHE_CONTROL, **extra)

    def open(self, key: str) -> Stored | None:
        try:
            answer = self._call("get_object", Key=self._key(key))
        except ValueError:
            return None
        if answer is None:
            return None
        return Stored(answer["Body"], answer.get("ContentType") or "application/octet-stream",
                      answer.get("ContentLength", 0))

    def delete(self, key: str) -> None:
        self._call("delete_object", Key=self._key(key))

    def presigned_post(self, key: str, max_bytes: int, redirect: str) -> dict:
        """Fields for a browser form that posts one image straight to the bucket."""
        fields: dict[str, str] = {"Cache-Control": CACHE_CONTROL,
                                  "success_action_redirect": redirect}
        conditions: list[Any] = [
            ["content-length-range", 1, max_bytes],
            ["starts-with", "$Content-Type", "image/"],
            {"Cache-Control": CACHE_CONTROL},
            {"success_action_redirect": redirect},
        ]
        if self.acl:
            fields["acl"] = self.acl
            conditions.append({"acl": self.acl})
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.generate_presigned_post(
                self.bucket, self._key(key), Fields=fields, Conditions=conditions,
                ExpiresIn=PRESIGN_SECONDS)
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(f"S3 presigned POST failed: {exc}") from None


def make_store(config: Mapping[str, Any]) -> AssetStore:
    if config["ASSET_STORE"] == "s3":
        return S3Store(config["S3_BUCKET"], config["S3_PREFIX"], config["S3_ENDPOINT_URL"],
                       config["S3_ACL"])
    return LocalStore(Path(config["DATA_DIR"]) / "assets")


def get_store(app: Flask | None = None) -> AssetStore:
    """The app's store (made by init_app)."""
    return (app or current_app).extensions["landingpad.assets"]
