"""Where events go (the install's endpoints and each site's), and the signing secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask

from landingpad.sites import get_registry


@dataclass(frozen=True)
class Endpoints:
    """The install's endpoints, and each site's own (from the sites file)."""

    every_site: tuple[str, ...]
    by_site: Mapping[str, tuple[str, ...]]

    def for_site(self, site: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.every_site, *self.by_site.get(site, ()))))

    def __bool__(self) -> bool:
        return bool(self.every_site) or any(self.by_site.values())

    def all(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(
            (*self.every_site, *(url for urls in self.by_site.values() for url in urls))))


def endpoints(app: Flask) -> Endpoints:
    """The endpoints as configured now (the sites file is re-read when it changed)."""
    registry = get_registry(app)
    registry.domains()  # reloads the sites file if it changed
    return Endpoints(tuple(app.config["WEBHOOK_URLS"]), dict(registry.config.webhooks))


def signing_secret(config: Mapping[str, Any]) -> str:
    """LANDINGPAD_WEBHOOK_SECRET, or one derived from the install's secret key.

    Derived (HMAC, one way): every node shares SECRET_KEY already, so every
    deliverer signs alike, and the receiver's copy reveals nothing of the key.
    """
    if config.get("WEBHOOK_SECRET"):
        return config["WEBHOOK_SECRET"]
    key = hmac.new(config["SECRET_KEY"].encode(), b"landingpad.webhook-secret",
                   hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(key).decode("ascii")
