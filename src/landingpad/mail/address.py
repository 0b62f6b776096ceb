"""The one normal form of an email address, used wherever an address comes in."""

from __future__ import annotations

import re
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

MAX_EMAIL = 254
MAX_LOCAL = 64  # RFC 5321, what strict=True checks
# A plain ASCII dot-atom before the @ (RFC 5322 atext, no leading, trailing or double
# dot), and a plain ASCII host name after it with no IDNA label: for such an address
# email_validator's verdict and normal form depend on the domain alone (the length
# checks aside, done here), so the domain's is computed once and kept.
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_PLAIN_DOMAIN = re.compile(r"[A-Za-z0-9.-]+")


def normalise_email(value: str) -> str:
    """The stored form of an address: validated syntax (no DNS), lower case.

    Raises EmailNotValidError with a reason a person can act on.
    """
    if len(value) > MAX_EMAIL:
        raise EmailNotValidError(f"The address is longer than {MAX_EMAIL} characters.")
    local, at, domain = value.rpartition("@")
    if (at and len(local) <= MAX_LOCAL and _PLAIN_LOCAL.fullmatch(local)
            and _PLAIN_DOMAIN.fullmatch(domain) and "xn--" not in domain.lower()):
        normal_domain = _plain_domain(domain)
        if normal_domain is not None:
            return f"{local}@{normal_domain}".lower()
    return _validated(value)


def _validated(value: str) -> str:
    # strict: also RFC 5321's 64-character local part; no DNS on the request path.
    info = validate_email(value, check_deliverability=False, strict=True)
    return info.normalized.lower()


@lru_cache(maxsize=4096)
def _plain_domain(domain: str) -> str | None:
    """The normal form of a plain domain after the @, or None if email_validator refuses it.

    Most sign-ups of a site share a handful of mail domains: this is the part of the
    check that costs (IDNA rules per character), so it runs once per domain.
    """
    try:
        return validate_email(f"a@{domain}", check_deliverability=False, strict=True).domain
    except EmailNotValidError:
        return None
