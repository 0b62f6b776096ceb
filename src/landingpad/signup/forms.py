"""The public sign-up form (Flask-WTF/WTForms), cookie-free: no CSRF session here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from email_validator import EmailNotValidError
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, Field, HiddenField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from landingpad.mail.address import MAX_EMAIL, normalise_email
from landingpad.sites import Site
from landingpad.web.i18n import email_problem, gettext, lazy_gettext


class MultiCheckboxField(SelectMultipleField):
    """A multiple select rendered as a list of checkboxes (as in the seed)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form: FlaskForm) -> None:
        # WTForms words this itself, and several of its catalogues lack the sentence:
        # ours is translated in every shipped language.
        if any(value not in self.choices for value in self.data or ()):
            raise ValidationError(gettext("Please choose only among the options shown."))


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
        raise ValidationError(email_problem(exc)) from None


class SignupForm(FlaskForm):
    class Meta:
        csrf = False  # the signed form token and Origin checks protect the public form

    email = EmailField(lazy_gettext("Your email address"), filters=[_strip], validators=[
        InputRequired(lazy_gettext("Please enter your email address.")),
        Length(max=MAX_EMAIL, message=lazy_gettext("This address is too long.")),
        _valid_email,
    ])
    interests = MultiCheckboxField(lazy_gettext("What interests you? (optional)"), choices=[])
    consent = BooleanField("consent", validators=[
        DataRequired(lazy_gettext("Please tick the box to agree to be emailed.")),
    ])
    token = HiddenField()
    # The honeypot: people never see it.
    website = StringField(lazy_gettext("Leave this field empty"))

    normalised_email: str = ""

    @classmethod
    def for_site(cls, site: Site, **kwargs) -> SignupForm:
        form = cls(**kwargs)
        form.interests.choices = list(site.interests)
        return form
