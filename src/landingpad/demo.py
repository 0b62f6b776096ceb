"""``landingpad demo``: a working install in one command (several sites, SQLite, local files)."""

from __future__ import annotations

import os
from pathlib import Path

import click

DEMO_SITES = """\
# The demo's sites. Edit and save: the running app picks changes up within a second.
[defaults]
LANDING_ACCENT = "#2a6df4"

[sites."coffee.localhost"]
LANDING_TITLE = "Coffee Club"
LANDING_TAGLINE = "Small-batch beans, roasted to order. Launching soon."
LANDING_EMAIL = "owner@coffee.example"
LANDING_INTERESTS = ["Beans", "Brewing gear", "Workshops"]
LANDING_ACCENT = "#8a4b24"
aliases = ["www.coffee.localhost"]

[sites."bikes.localhost"]
LANDING_TITLE = "Bike Repair Collective"
LANDING_TAGLINE = "Fix your own bike with our tools and help. Opening this spring."
LANDING_EMAIL = "hello@bikes.example"
LANDING_INTERESTS = ["Repair nights", "Parts", "Group rides"]
LANDING_ACCENT = "#1f7a3a"

[sites."books.localhost"]
LANDING_TITLE = "Margins"
LANDING_TAGLINE = "A bookshop for people who write in them."
LANDING_LANG = "en-GB"
"""


@click.command()
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
def demo(port: int) -> None:
    """Set up a demo data dir (three *.localhost sites, SQLite) and serve it.

    Uses LANDINGPAD_DATA_DIR (default ./landingpad-data); an existing sites
    file is kept as it is.
    """
    from landingpad import create_app
    from landingpad.deploy.serve import serve
    from landingpad.migrations import upgrade
    from landingpad.storage.engine import make_engine

    data_dir = Path(os.environ.get("LANDINGPAD_DATA_DIR") or "landingpad-data").resolve()
    os.environ["LANDINGPAD_DATA_DIR"] = str(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    sites_file = Path(os.environ.get("LANDINGPAD_SITES") or data_dir / "sites.toml")
    if not sites_file.exists():
        sites_file.write_text(DEMO_SITES)
    app = create_app()
    engine = make_engine(app.config["DATABASE_URL"])
    upgrade(engine)
    engine.dispose()

    click.echo(f"data dir: {data_dir}\nsites file: {sites_file}\n")
    click.echo("Open these in a browser (*.localhost needs no DNS setup):")
    for domain in app.extensions["landingpad.sites"].domains():
        click.echo(f"  http://{domain}:{port}/")
    click.echo("\nExport the sign-ups with:  landingpad export\n")
    click.get_current_context().invoke(serve, port=port)
