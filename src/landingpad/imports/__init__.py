"""Importing sign-ups from other tools (`landingpad import`), each with its consent's proof:
when it was given, to which text, and where (the source)."""

from __future__ import annotations

from landingpad.public import exports

# What other features may use (landingpad.public): inner module -> names.
__getattr__, __all__ = exports(__name__, {
    "rows": "COLUMNS",
})
