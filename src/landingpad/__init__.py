"""landingpad: one Flask app giving any number of domains a "coming soon" page.

The package is two floors (docs/architecture.md): a small core (settings, sites,
storage, mail, web, files) and features above it. The app factory is
:func:`landingpad.web.app.create_app`, importable from here too.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from landingpad.web.app import create_app

        return create_app
    raise AttributeError(f"module 'landingpad' has no attribute {name!r}")
