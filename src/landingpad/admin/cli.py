"""``landingpad user create|list|delete|set-password``"""

from __future__ import annotations

import sys

import click
from email_validator import EmailNotValidError
from sqlalchemy import select

from landingpad.admin.accounts import AccountError, create_user, set_password
from landingpad.cli import pass_app
from landingpad.storage import session_factory
from landingpad.storage.models import User


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _admin_hint(app) -> None:  # noqa: ANN001
    if not app.config["ADMIN_HOST"]:
        click.echo("Note: the admin area is off. Turn it on by setting LANDINGPAD_ADMIN_HOST "
                   "to the host name it should answer on (e.g. admin.example.com), then run "
                   "`landingpad deploy render` again.", err=True)


def _find(session, email: str) -> User:  # noqa: ANN001
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"no account for {email}")
    return user


@click.group()
def user() -> None:
    """Owner accounts for the admin area."""


@user.command("create")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from one line of stdin.")
@pass_app
def user_create(load_app, email: str, password_stdin: bool) -> None:  # noqa: ANN001
    """Create an admin account (asks for the password twice)."""
    app = load_app()
    password = _password(password_stdin)
    with session_factory(app)() as session:
        try:
            account = create_user(session, email, password)
        except (AccountError, EmailNotValidError) as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"created {account.email}")
    _admin_hint(app)


@user.command("list")
@pass_app
def user_list(load_app) -> None:  # noqa: ANN001
    """One account per line: email, created, last log-in."""
    with session_factory(load_app())() as session:
        for account in session.scalars(select(User).order_by(User.email)):
            last = account.last_login_at.isoformat() if account.last_login_at else "never"
            click.echo(f"{account.email}\t{account.created_at.isoformat()}\t{last}")


@user.command("delete")
@click.argument("email")
@click.confirmation_option(prompt="Delete this account?")
@pass_app
def user_delete(load_app, email: str) -> None:  # noqa: ANN001
    """Delete an account (its sessions end at once)."""
    with session_factory(load_app())() as session:
        session.delete(_find(session, email))
        session.commit()
    click.echo(f"deleted {email}")


@user.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from one line of stdin.")
@pass_app
def user_set_password(load_app, email: str, password_stdin: bool) -> None:  # noqa: ANN001
    """Set a new password; every existing session of the account ends."""
    with session_factory(load_app())() as session:
        account = _find(session, email)
        try:
            set_password(session, account, _password(password_stdin))
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"password changed for {email}")
