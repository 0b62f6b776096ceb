"""The welcome mail: a site's Markdown message (LANDING_WELCOME), sent once per sign-up.

Single opt-in: after the sign-up that made the row; double opt-in (or an address that
had unsubscribed): after its confirmation. Sent after the response, like the
confirmation mail, and at most once: a journal row (``welcomes``) is committed
before the mail goes (mail.py).
"""

from __future__ import annotations

from landingpad.public import exports

# What other features may use (landingpad.public): inner module -> names.
__getattr__, __all__ = exports(__name__, {
    "mail": "welcome_after_response welcome_message",
})
