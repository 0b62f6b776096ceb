"""The public sign-up form (Flask-WTF/WTForms), cookie-free: no CSRF session here."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, Field, HiddenField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from landingpad.sites import Site

MAX_EMAIL = 254


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
    # strict: also RFC 5321's 64-character local part; no DNS on the request path.
    info = validate_email(value, check_deliverability=False, strict=True)
    return info.normalized.lower()


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
