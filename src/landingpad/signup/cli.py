"""``landingpad export``"""

from __future__ import annotations

import sys

import click

from landingpad.cli import pass_app
from landingpad.signup.export import write_csv
from landingpad.sites.host import InvalidHost, normalize_host
from landingpad.storage import session_factory
from landingpad.storage.signups import iter_signups


@click.command()
@click.option("--site", "site", metavar="DOMAIN", help="Only this domain (default: all).")
@pass_app
def export(load_app, site: str | None) -> None:  # noqa: ANN001
    """Write sign-ups as CSV (UTF-8, header row) to standard output."""
    if site is not None:
        try:
            site = normalize_host(site)
        except InvalidHost as exc:
            raise click.BadParameter(str(exc), param_hint="--site") from None
    app = load_app()
    with session_factory(app)() as session:
        count = write_csv(iter_signups(session, site), sys.stdout)
    click.echo(f"{count} sign-ups exported", err=True)
