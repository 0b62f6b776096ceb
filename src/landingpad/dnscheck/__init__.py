"""Deliverability: the SPF, DKIM, DMARC and MX records each domain should publish, checked
against what DNS holds (``landingpad dns check``, the admin's Deliverability page), and
the check `announce send` makes before it sends.
"""

from __future__ import annotations

from landingpad.public import exports

__getattr__, __all__ = exports(__name__, {
    "checks": "Check DomainReport Role Verdict",
    "report": "BLOCKING CACHE_SECONDS cached_reports check_domains checked_domains send_blockers",
})
