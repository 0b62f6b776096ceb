"""``landingpad db ...``"""

from __future__ import annotations

import click
from flask import Flask

from landingpad.cli import pass_app
from landingpad.storage.engine import make_engine
from landingpad.storage.migrations import current, upgrade


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_app
def db_upgrade(load_app) -> None:  # noqa: ANN001
    """Create or migrate the schema to the latest version (safe to run again)."""
    app: Flask = load_app()
    engine = make_engine(app.config["DATABASE_URL"])
    try:
        upgrade(engine)
        click.echo(f"database at revision {current(engine)}")
    finally:
        engine.dispose()


@db.command("current")
@pass_app
def db_current(load_app) -> None:  # noqa: ANN001
    """Print the schema revision of the database."""
    engine = make_engine(load_app().config["DATABASE_URL"])
    try:
        click.echo(current(engine) or "empty (run `landingpad db upgrade`)")
    finally:
        engine.dispose()
