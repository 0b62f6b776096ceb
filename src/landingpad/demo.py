"""``landingpad demo``: a working install in one command (several sites, SQLite, local files)."""

from __future__ import annotations

import os
import signal
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
@click.option("--no-nginx", is_flag=True, help="Serve with uWSGI alone (no nginx in front).")
def demo(port: int, no_nginx: bool) -> None:
    """Set up a demo data dir (three *.localhost sites, SQLite) and run the real stack.

    nginx (on 127.0.0.1:PORT) passes each domain's settings to uWSGI, as in
    production. Uses LANDINGPAD_DATA_DIR (default ./landingpad-data); an
    existing sites file is kept. `landingpad domain add` in another terminal,
    with the same LANDINGPAD_DATA_DIR, changes the running demo.
    """
    from landingpad import create_app
    from landingpad.deploy.nginx import NginxError, find_nginx
    from landingpad.deploy.render import DeployOptions
    from landingpad.deploy.serve import serve
    from landingpad.deploy.stack import Stack
    from landingpad.files import make_data_dir, write_atomic
    from landingpad.migrations import upgrade
    from landingpad.storage.engine import make_engine

    data_dir = Path(os.environ.get("LANDINGPAD_DATA_DIR") or "landingpad-data").resolve()
    os.environ["LANDINGPAD_DATA_DIR"] = str(data_dir)
    make_data_dir(data_dir)  # 0710, whatever the umask
    sites_file = Path(os.environ.get("LANDINGPAD_SITES") or data_dir / "sites.toml")
    if not sites_file.exists():
        write_atomic(sites_file, DEMO_SITES.encode())  # 0640: never writable by others
    app = create_app()
    engine = make_engine(app.config["DATABASE_URL"])
    upgrade(engine)
    engine.dispose()

    click.echo(f"data dir: {data_dir}\nsites file: {sites_file}\n")
    nginx = None if no_nginx else find_nginx(app.config["NGINX"])
    if nginx is None:
        if not no_nginx:
            click.echo("nginx is not installed (apt-get install nginx-light, or ./run demo "
                       "installs it): serving with uWSGI alone.\n")
        # The admin area gets a port of its own: the public one never reaches it.
        admin_port = port + 1 if app.config["ADMIN_HOST"] and port < 65535 else None
        _print_urls(app, port, admin_port)
        click.get_current_context().invoke(serve, port=port, admin_port=admin_port)
        return

    # With LANDINGPAD_ADMIN_HOST set, nginx gets the admin server block (on the same port,
    # chosen by name): the only way into the admin area.
    options = DeployOptions(deploy_dir=str(app.config["DEPLOY_DIR"]), data_dir=str(data_dir),
                            listen=f"127.0.0.1:{port}", processes=2, sites_file=str(sites_file),
                            admin_host=app.config["ADMIN_HOST"])
    stack = Stack(options, nginx)
    if (pid := stack.running_pid()) is not None:
        raise click.ClickException(f"a demo is already running on this data dir (nginx pid {pid})")
    try:
        stack.render(sites_file)
    except NginxError as exc:
        raise click.ClickException(f"nginx -t failed: {exc}") from None
    try:
        stack.start()
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"nginx (pid {stack.nginx.pid}) on 127.0.0.1:{port} -> uWSGI (pid "
               f"{stack.uwsgi.pid}); configs in {options.deploy_dir}, logs in "
               f"{options.deploy_dir}/logs\n")
    _print_urls(app, port)
    click.echo("Add a domain live:  LANDINGPAD_DATA_DIR=" + str(data_dir)
               + " landingpad domain add shop.localhost --title Shop\nCtrl-C stops.\n")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        code = stack.wait()
        click.echo(f"a server exited ({code}); stopping")
    except KeyboardInterrupt:
        click.echo("\nstopping")
    finally:
        stack.stop()


def _print_urls(app, port: int, admin_port: int | None = None) -> None:  # noqa: ANN001
    click.echo("Open these in a browser (*.localhost needs no DNS setup):")
    for domain in app.extensions["landingpad.sites"].domains():
        click.echo(f"  http://{domain}:{port}/")
    if admin_host := app.config["ADMIN_HOST"]:
        click.echo(f"\nAdmin area: http://{admin_host}:{admin_port or port}/ "
                   "(accounts: landingpad user create)")
    click.echo("\nExport the sign-ups with:  landingpad export\n")
