"""``landingpad domain ...``"""

from __future__ import annotations

import click

from landingpad.cli import pass_app
from landingpad.sites import get_registry


@click.group()
def domain() -> None:
    """Domains served from the sites file."""


@domain.command("list")
@pass_app
def domain_list(load_app) -> None:  # noqa: ANN001
    """One domain per line: domain, title, aliases (tab-separated)."""
    registry = get_registry(load_app())
    for name in registry.domains():
        site = registry.site_for_host(name)
        aliases = ",".join(registry.config.aliases.get(name, ()))
        click.echo(f"{name}\t{site.title if site else ''}\t{aliases}")
