"""Signed webhooks: each sign-up event posted to the install's and the site's endpoints.

Events are recorded by the core (storage/events.py) in the transaction that makes
the change; ``landingpad webhooks deliver`` fans them out into deliveries (one per
event and endpoint), claims them, and posts them signed the Standard Webhooks way,
retrying with back-off until delivered or given up: at least once, each with a
stable webhook-id.

  config   where events go, and the signing secret
  sign     the Standard Webhooks signature
  send     one POST: resolved, checked (no private addresses), pinned, bounded
  queue    fan-out, claims (SQLite and PostgreSQL), results and back-off
  deliver  the loop (``--once``: one pass)
"""

from __future__ import annotations

from landingpad.public import exports

# What other features may use (landingpad.public): inner module -> names.
__getattr__, __all__ = exports(__name__, {
    "config": "Endpoints endpoints",
    "sign": "sign",
})
