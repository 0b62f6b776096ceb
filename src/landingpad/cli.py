"""The ``landingpad`` command: a root click group; each feature adds its own commands."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from landingpad import settings
from landingpad.settings import SettingsError
from landingpad.sites.sitesfile import SitesFileError

if TYPE_CHECKING:
    from flask import Flask


class AppLoader:
    """Builds the app once per command, turning configuration errors into clear messages."""

    def __init__(self) -> None:
        self._app: Flask | None = None
        self._config: Mapping[str, Any] | None = None

    def config(self) -> Mapping[str, Any]:
        """The install settings alone, for commands that need no app: `domain add` then
        loads neither Flask, SQLAlchemy nor any feature, most of its running time."""
        if self._app is not None:
            return self._app.config
        if self._config is None:
            try:
                self._config = settings.load()
            except SettingsError as exc:
                raise click.ClickException(str(exc)) from None
        return self._config

    def __call__(self) -> Flask:
        if self._app is None:
            from landingpad import create_app

            try:
                self._app = create_app()
            except (SettingsError, SitesFileError) as exc:
                raise click.ClickException(str(exc)) from None
        return self._app


pass_app = click.make_pass_decorator(AppLoader, ensure=True)


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs (click's lazy-loading recipe).

    `landingpad domain add` should not pay for Markdown, DKIM or argon2.
    """

    def __init__(self, *args: object, lazy: dict[str, str] | None = None,
                 **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module, _, attr = self.lazy[name].partition(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


COMMANDS = {
    "db": "landingpad.storage.cli:db",
    "domain": "landingpad.deploy.cli:domain",
    "deploy": "landingpad.deploy.cli:deploy",
    "export": "landingpad.signup.cli:export",
    "import": "landingpad.imports.cli:import_command",
    "serve": "landingpad.deploy.serve:serve",
    "demo": "landingpad.demo:demo",
    "user": "landingpad.admin.cli:user",
    "announce": "landingpad.announce.cli:announce",
    "dkim": "landingpad.mail.cli:dkim_group",
    "dns": "landingpad.dnscheck.cli:dns",
    "forget": "landingpad.privacy.cli:forget",
    "purge": "landingpad.privacy.cli:purge",
    "asset": "landingpad.assets.cli:asset",
    "tls": "landingpad.tls.cli:tls",
    "bounces": "landingpad.bounces.cli:bounces",
    "webhooks": "landingpad.webhooks.cli:webhooks",
}


@click.group("landingpad", cls=LazyGroup, lazy=COMMANDS,
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
    from landingpad.sites.site import SITE_FIELDS

    click.echo("Install settings (environment variables):\n")
    for env, default, text in settings.describe():
        click.echo(f"  {env}  [default: {default or '-'}]\n      {text}")
    click.echo("\nPer-site settings (nginx uwsgi_param, or the sites file):\n")
    for field in SITE_FIELDS:
        default = field.default if field.default not in (None, "", ()) else "-"
        click.echo(f"  {field.key}  [default: {default}]\n      {field.help}")
