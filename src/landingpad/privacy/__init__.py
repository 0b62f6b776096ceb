"""Privacy: the per-site privacy notice and unsubscribe links (views.py).

A visitor's own data (ask by address, see, download, erase) is in access.py;
forgetting an address and purging old data in erasure.py, with the ``forget``
and ``purge`` commands in cli.py.
"""

from __future__ import annotations

from flask import Flask

from landingpad.privacy import access, views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.register_blueprint(access.bp)
