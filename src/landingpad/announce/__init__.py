"""The launch announcement: compose once, send at most once, resume after any crash."""

from __future__ import annotations

from landingpad.public import exports

# The public names (landingpad.public): what other features may use.
PUBLIC = {
    "render_email": "compose",
    "send_test_copy": "compose",
    "send_announcement": "send",
    "counts": "states",
    "announcement_state": "states",
    "AnnouncementState": "states",
    "Outcome": "states",
}
__getattr__ = exports(__name__, PUBLIC)
__all__ = list(PUBLIC)
