"""Mail: building messages, signing them and sending them (SMTP, or a folder of .eml files)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The app's one outbox (mail.outbox), through which every mail goes."""
    from landingpad.mail import outbox

    outbox.init_app(app)
