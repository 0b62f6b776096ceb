"""``landingpad serve``"""

from __future__ import annotations

import os

import click

from landingpad.cli import pass_app
from landingpad.deploy.uwsgi import default_processes, http_args


@click.command()
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--bind", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--processes", default=default_processes(), show_default=True,
              type=click.IntRange(1, 64), help="uWSGI worker processes.")
@pass_app
def serve(load_app, port: int, bind: str, processes: int) -> None:  # noqa: ANN001
    """Serve the app over HTTP through uWSGI, for local use.

    In production nginx sits in front (`landingpad deploy render`).
    """
    load_app()  # refuse to start on bad settings, with the message
    args = http_args(f"{bind}:{port}", processes)
    click.echo(f"serving on http://{bind}:{port}/ with {processes} uWSGI processes (Ctrl-C stops)")
    os.execv(args[0], args)  # noqa: S606 - replace this process: signals reach uWSGI
