"""A feature's public module: the names other features may use, imported on first use.

Features meet only through each other's package (``from landingpad.deploy import
DomainManager``), never their inner modules (tests/unit/test_architecture.py). The
names are resolved lazily (PEP 562), so importing a feature for one name doesn't load
all of it: the app's workers stay lean and a CLI command pays only for what it runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def exports(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``names`` maps each public name to
    ``"module"`` (same name there) or ``"module:attr"``, modules relative to the package."""

    def __getattr__(name: str) -> Any:
        try:
            module, _, attr = names[name].partition(":")
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(f"{package}.{module}"), attr or name)
        return value

    return __getattr__
