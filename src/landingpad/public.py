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


def exports(package: str, modules: Mapping[str, str]) -> tuple[Callable[[str], Any], list[str]]:
    """A module ``__getattr__`` and ``__all__`` for ``package``.

    ``modules`` maps an inner module (relative to the package) to the names it offers,
    separated by spaces; ``inner:public`` offers ``inner`` under another name.
    """
    where: dict[str, tuple[str, str]] = {}
    for module, names in modules.items():
        for name in names.split():
            inner, _, public = name.partition(":")
            where[public or inner] = (f"{package}.{module}", inner)

    def __getattr__(name: str) -> Any:
        try:
            module, inner = where[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        return getattr(importlib.import_module(module), inner)

    return __getattr__, sorted(where)
