"""Bounces and complaints: each mail's VERP envelope sender (mail/verp.py) brings its
DSNs and feedback-loop reports back to one mailbox; `bounces fetch` reads it (IMAP over
TLS), `bounces import` reads files; dead and complaining addresses are suppressed on
every site, and reports that can't be matched are kept aside and listed."""

from __future__ import annotations

from landingpad.public import exports

# What other features may use (landingpad.public): inner module -> names.
__getattr__, __all__ = exports(__name__, {
    "rates": "announcement_rates Rates Level",
    "process": "Processor Result unmatched_reports",
})
