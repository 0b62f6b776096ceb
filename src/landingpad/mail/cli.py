"""``landingpad dkim generate|show``, and the address type every command taking one uses."""

from __future__ import annotations

from pathlib import Path

import click
from email_validator import EmailNotValidError

from landingpad.cli import AppLoader, pass_app
from landingpad.mail import dkim
from landingpad.mail.address import normalise_email
from landingpad.sites.host import InvalidHost, normalize_host


class EmailAddress(click.ParamType):
    """An address in its one normal form (mail.address), or a usage error saying why not."""

    name = "address"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        try:
            return normalise_email(str(value).strip())
        except EmailNotValidError as exc:
            self.fail(str(exc), param, ctx)


EMAIL = EmailAddress()


def _domain(name: str) -> str:
    try:
        return normalize_host(name)
    except InvalidHost as exc:
        raise click.BadParameter(f"{name!r}: {exc}", param_hint="DOMAIN") from None


@click.group("dkim")
def dkim_group() -> None:
    """DKIM keys for signing each domain's mail."""


@dkim_group.command("generate")
@click.argument("domain")
@pass_app
def generate(load_app: AppLoader, domain: str) -> None:
    """Create a signing key for DOMAIN and print the DNS TXT record to publish."""
    folder = Path(load_app().config["DATA_DIR"]) / "dkim"
    try:
        record = dkim.generate(folder, _domain(domain))
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("Publish this DNS record; mail from this domain is signed from now on:")
    click.echo(record)


@dkim_group.command("show")
@click.argument("domain")
@pass_app
def show(load_app: AppLoader, domain: str) -> None:
    """Print the DNS TXT record of DOMAIN's existing key."""
    domain = _domain(domain)
    path = dkim.key_path(Path(load_app().config["DATA_DIR"]) / "dkim", domain)
    if not path.exists():
        raise click.ClickException(f"no key for {domain}: run `landingpad dkim generate {domain}`")
    click.echo(dkim.txt_record(path, domain))
