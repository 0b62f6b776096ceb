"""``landingpad serve``"""

from __future__ import annotations

import os
from pathlib import Path

import click

from landingpad.cli import pass_app
from landingpad.deploy.render import short_socket_path
from landingpad.deploy.uwsgi import default_processes, http_args
from landingpad.files import PASSAGE_DIR, make_dir, make_own_dir


@click.command()
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--bind", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--admin-port", type=click.IntRange(1, 65535), default=None,
              help="Serve the admin area (LANDINGPAD_ADMIN_HOST) on this port, and only "
                   "there; without it the admin area is not served.")
@click.option("--processes", default=default_processes(), show_default=True,
              type=click.IntRange(1, 64), help="uWSGI worker processes.")
@pass_app
def serve(load_app, port: int, bind: str, processes: int,  # noqa: ANN001
          admin_port: int | None = None) -> None:
    """Serve the app over HTTP through uWSGI, for local use.

    In production nginx sits in front (`landingpad deploy render`). The admin
    area has a port of its own (--admin-port): the public port never reaches it,
    whatever the Host of a request says.
    """
    app = load_app()  # refuse to start on bad settings, with the message
    admin_host = app.config["ADMIN_HOST"]
    if admin_port is not None and not admin_host:
        raise click.BadParameter("set LANDINGPAD_ADMIN_HOST to serve the admin area",
                                 param_hint="--admin-port")
    if admin_port == port:
        raise click.BadParameter("the admin area needs a port of its own, not --port",
                                 param_hint="--admin-port")
    admin_bind = f"{bind}:{admin_port}" if admin_port else None
    # The router reaches the workers on a unix socket of this user's (not on a loopback
    # port that any local user could talk uwsgi to).
    deploy_dir = make_dir(Path(app.config["DEPLOY_DIR"]), PASSAGE_DIR)
    socket = Path(short_socket_path(deploy_dir, f"serve-{port}.sock"))
    if socket.parent != deploy_dir:
        try:
            make_own_dir(socket.parent)
        except OSError as exc:
            raise click.ClickException(f"the socket's folder is not safe to use: {exc}") \
                from None
    args = http_args(f"{bind}:{port}", processes, admin_bind, socket=str(socket))
    click.echo(f"serving on http://{bind}:{port}/ with {processes} uWSGI processes (Ctrl-C stops)")
    if admin_bind:
        click.echo(f"admin area: http://{admin_host}:{admin_port}/ (only on {admin_bind})")
    elif admin_host:
        click.echo(f"the admin area ({admin_host}) is not served: add --admin-port PORT")
    os.execv(args[0], args)  # noqa: S606 - replace this process: signals reach uWSGI
