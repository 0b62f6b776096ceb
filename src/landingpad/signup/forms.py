"""The public sign-up form (Flask-WTF/WTForms), cookie-free: no CSRF session here."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

from email_validator import EmailNotValidError, validate_email
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, Field, HiddenField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from landingpad.sites import Site

MAX_EMAIL = 254
MAX_LOCAL = 64  # RFC 5321, what strict=True checks
# A plain ASCII dot-atom before the @ (RFC 5322 atext, no leading, trailing or double
# dot), and a plain ASCII host name after it with no IDNA label: for such an address
# email_validator's verdict and normal form depend on the domain alone (the length
# checks aside, done here), so the domain's is computed once and kept.
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_PLAIN_DOMAIN = re.compile(r"[A-Za-z0-9.-]+")


class MultiCheckboxField(SelectMultipleField):
    """A multiple select rendered as a list of checkboxes (as in the seed)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


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


class QuickSignup(NamedTuple):
    email: str  # as posted; normalise_email still to run
    interests: list[str]
    token: str


def quick_signup(fields: Sequence[tuple[str, str]], choices: Sequence[str]) -> QuickSignup | None:
    """The fields of a plainly well-formed sign-up post, without building a form.

    None unless email, consent and token come once each, consent is ticked, the
    honeypot is empty and every interest is one of ``choices``: then the full
    SignupForm decides (and words any error). What this accepts, SignupForm reads
    the same way (first value of each field, interests in order).
    """
    seen: dict[str, str] = {}
    interests: list[str] = []
    for name, value in fields:
        if name == "interests":
            if value not in choices:
                return None
            interests.append(value)
        elif name in ("email", "consent", "token", "website"):
            if name in seen:
                return None
            seen[name] = value
    if seen.get("website") or seen.get("consent", "") in ("", "false"):
        return None
    email, token = seen.get("email"), seen.get("token")
    if not email or not token:
        return None
    return QuickSignup(email.strip(), interests, token)


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _valid_email(form: SignupForm, field: Field) -> None:
    try:
        form.normalised_email = normalise_email(field.data or "")
    except EmailNotValidError as exc:
        raise ValidationError(str(exc)) from None


class SignupForm(FlaskForm):
    class Meta:
        csrf = False  # the signed form token and Origin checks protect the public form

    email = EmailField("Your email address", filters=[_strip], validators=[
        InputRequired("Please enter your email address."),
        Length(max=MAX_EMAIL, message=f"The address is longer than {MAX_EMAIL} characters."),
        _valid_email,
    ])
    interests = MultiCheckboxField("What interests you? (optional)", choices=[])
    consent = BooleanField("consent", validators=[
        DataRequired("Please tick the box to agree to be emailed."),
    ])
    token = HiddenField()
    website = StringField("Leave this field empty")  # the honeypot: people never see it

    normalised_email: str = ""

    @classmethod
    def for_site(cls, site: Site, **kwargs) -> SignupForm:
        form = cls(**kwargs)
        form.interests.choices = list(site.interests)
        return form
