"""The ``landingpad`` command: a root click group; each feature adds its own commands."""

from __future__ import annotations

import click
from flask import Flask

from landingpad.settings import SettingsError
from landingpad.sites.sitesfile import SitesFileError


class AppLoader:
    """Builds the app once per command, turning configuration errors into clear messages."""

    def __init__(self) -> None:
        self._app: Flask | None = None

    def __call__(self) -> Flask:
        if self._app is None:
            from landingpad import create_app

            try:
                self._app = create_app()
            except (SettingsError, SitesFileError) as exc:
                raise click.ClickException(str(exc)) from None
        return self._app


pass_app = click.make_pass_decorator(AppLoader, ensure=True)


@click.group("landingpad",
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="landingpad")
def main() -> None:
    """landingpad: "coming soon" pages with email sign-up for any number of domains.

    Configuration comes from environment variables (LANDINGPAD_DATA_DIR,
    LANDINGPAD_SITES, DATABASE_URL, ...; see `landingpad settings`) and the
    sites file. Start with `landingpad demo`.
    """


@main.command("settings")
def show_settings() -> None:
    """List every setting: environment variable, default and meaning."""
    from landingpad.settings import describe
    from landingpad.sites.site import SITE_FIELDS

    click.echo("Install settings (environment variables):\n")
    for env, default, text in describe():
        click.echo(f"  {env}  [default: {default or '-'}]\n      {text}")
    click.echo("\nPer-site settings (nginx uwsgi_param, or the sites file):\n")
    for field in SITE_FIELDS:
        default = field.default if field.default not in (None, "", ()) else "-"
        click.echo(f"  {field.key}  [default: {default}]\n      {field.help}")


def _register() -> None:
    from landingpad.admin.cli import user
    from landingpad.announce.cli import announce
    from landingpad.demo import demo
    from landingpad.deploy.cli import deploy, domain
    from landingpad.deploy.serve import serve
    from landingpad.mail.cli import dkim_group
    from landingpad.privacy.cli import forget, purge
    from landingpad.signup.cli import export
    from landingpad.storage.cli import db

    for command in (db, domain, deploy, export, serve, demo, user, announce, dkim_group,
                    forget, purge):
        main.add_command(command)


_register()
