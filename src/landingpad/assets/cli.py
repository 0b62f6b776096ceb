"""``landingpad asset upload DOMAIN FILE [--as logo]``: the seed's server-side upload."""

from __future__ import annotations

from pathlib import Path

import click

from landingpad.cli import AppLoader, pass_app


@click.group()
def asset() -> None:
    """Upload images (logos) to the asset store (local folder or S3)."""


@asset.command("upload")
@click.argument("domain")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "use", type=click.Choice(["logo"]),
              help="Also make it the site's logo (LANDING_LOGO).")
@pass_app
def upload(load_app: AppLoader, domain: str, file: Path, use: str | None) -> None:
    """Check FILE (PNG, JPEG, GIF or WebP), store it for DOMAIN, print its path on the site."""
    from landingpad.assets import get_store
    from landingpad.assets.images import BadImage
    from landingpad.assets.store import StoreError
    from landingpad.assets.upload import save_upload, use_as_logo
    from landingpad.deploy import DomainError
    from landingpad.sites import get_registry
    from landingpad.sites.host import InvalidHost, normalize_host

    app = load_app()
    try:
        name = normalize_host(domain)
    except InvalidHost as exc:
        raise click.BadParameter(f"{domain!r}: {exc}", param_hint="DOMAIN") from None
    site = get_registry(app).site_for_host(name)
    if site is None or site.domain != name:
        raise click.BadParameter(f"{name} is not a site in {app.config['SITES']}",
                                 param_hint="DOMAIN")
    max_bytes, size = app.config["ASSET_MAX_BYTES"], file.stat().st_size
    if size > max_bytes:
        raise click.ClickException(f"{file.name}: the file is {size:,} bytes; "
                                   f"the limit is {max_bytes:,}.")
    data = file.read_bytes()
    try:
        uploaded = save_upload(get_store(app), app.config, name, file.name, data)
    except BadImage as exc:
        raise click.ClickException(f"{file.name}: {exc}") from None
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(uploaded.message)
    if use == "logo":
        try:
            use_as_logo(app.config, name, uploaded)
        except DomainError as exc:
            raise click.ClickException(f"stored, but the logo was not set: {exc}") from None
        click.echo(f"{name} now shows it as its logo")
