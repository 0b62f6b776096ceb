"""Admin forms: Flask-WTF with the session-based CSRF token (cookies are fine here)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SelectMultipleField
from wtforms.validators import InputRequired, Length


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=1024)])


class DeleteForm(FlaskForm):
    """Step one lists the chosen ids; step two (confirm=yes) deletes them."""

    ids = SelectMultipleField("Sign-ups", coerce=int, validate_choice=False)
    confirm = HiddenField()


class LogoutForm(FlaskForm):
    pass
