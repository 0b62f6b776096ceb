"""``landingpad demo``: a working install in one command (several sites, SQLite, local files)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
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
@click.option("--https-port", type=click.IntRange(1, 65535), default=None,
              help="Also serve HTTPS on 127.0.0.1:PORT: certificates from "
                   "LANDINGPAD_ACME_DIRECTORY when it is set, else from a throwaway local CA "
                   "(*.localhost only) made in the data dir.")
@click.option("--no-nginx", is_flag=True, help="Serve with uWSGI alone (no nginx in front).")
def demo(port: int, https_port: int | None, no_nginx: bool) -> None:
    """Set up a demo data dir (three *.localhost sites, SQLite) and run the real stack.

    nginx (on 127.0.0.1:PORT) passes each domain's settings to uWSGI, as in
    production. Uses LANDINGPAD_DATA_DIR (default ./landingpad-data); an
    existing sites file is kept. `landingpad domain add` in another terminal,
    with the same LANDINGPAD_DATA_DIR, changes the running demo.

    With --https-port, every site is served over HTTPS too, and plain HTTP redirects
    to it for each host with a certificate. LANDINGPAD_ACME_DIRECTORY set (e.g. a
    pebble test CA): the certificate worker runs in this process and orders a
    certificate for each host (the CA validates on PORT unless
    LANDINGPAD_ACME_HTTP_PORT says otherwise). Not set: a local CA signs the
    *.localhost hosts; trust its ca.pem to see them without a warning.
    """
    from landingpad import create_app
    from landingpad.deploy import DeployOptions, NginxError, Stack, find_nginx, serve_command
    from landingpad.files import make_data_dir, write_atomic
    from landingpad.storage.engine import make_engine
    from landingpad.storage.migrations import upgrade

    if https_port is not None and https_port == port:
        raise click.BadParameter("must differ from --port", param_hint="--https-port")
    data_dir = Path(os.environ.get("LANDINGPAD_DATA_DIR") or "landingpad-data").resolve()
    os.environ["LANDINGPAD_DATA_DIR"] = str(data_dir)
    make_data_dir(data_dir)  # 0710, whatever the umask
    sites_file = Path(os.environ.get("LANDINGPAD_SITES") or data_dir / "sites.toml")
    if not sites_file.exists():
        write_atomic(sites_file, DEMO_SITES.encode())  # 0640: never writable by others
    # Only a directory named in the environment: the setting's default is Let's Encrypt's
    # production CA, which can't reach (nor issue for) *.localhost on a laptop.
    acme = bool(https_port and os.environ.get("LANDINGPAD_ACME_DIRECTORY"))
    if acme:
        # A test CA such as pebble validates on the port it is told: the demo's HTTP one.
        os.environ.setdefault("LANDINGPAD_ACME_HTTP_PORT", str(port))
    elif https_port:
        os.environ["LANDINGPAD_ACME_DIRECTORY"] = ""  # the demo CA's files: no orders
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
        if https_port:
            click.echo("HTTPS needs nginx in front: serving plain HTTP only.\n")
        # The admin area gets a port of its own: the public one never reaches it.
        admin_port = port + 1 if app.config["ADMIN_HOST"] and port < 65535 else None
        _print_urls(app, port, admin_port)
        click.get_current_context().invoke(serve_command, port=port, admin_port=admin_port)
        return

    # From here on the demo has children (nginx, uWSGI): SIGTERM and SIGHUP stop them as
    # Ctrl-C does, even while they are still starting (else a killed demo left uWSGI behind).
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    subreaper = _become_subreaper()
    issuer = None
    if https_port and not acme:
        issuer = _local_issuer(app, data_dir)  # before the first render: served at once
    # With LANDINGPAD_ADMIN_HOST set, nginx gets the admin server block (on the same port,
    # chosen by name): the only way into the admin area.
    options = DeployOptions(deploy_dir=str(app.config["DEPLOY_DIR"]), data_dir=str(data_dir),
                            listen=f"127.0.0.1:{port}", processes=2, sites_file=str(sites_file),
                            https_listen=f"127.0.0.1:{https_port}" if https_port else "",
                            admin_host=app.config["ADMIN_HOST"])
    stack = Stack(options, nginx)
    if (pid := stack.running_pid()) is not None:
        raise click.ClickException(f"a demo is already running on this data dir (nginx pid {pid})")
    try:
        stack.render(sites_file)
    except NginxError as exc:
        raise click.ClickException(f"nginx -t failed: {exc}") from None
    stop_certificates = threading.Event()
    certificates: threading.Thread | None = None
    try:
        try:
            stack.start()
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"nginx (pid {stack.nginx.pid}) on 127.0.0.1:{port}"
                   + (f" and https on 127.0.0.1:{https_port}" if https_port else "")
                   + f" -> uWSGI (pid {stack.uwsgi.pid}); configs in {options.deploy_dir}, "
                   f"logs in {options.deploy_dir}/logs\n")
        _print_urls(app, port, https_port=https_port, acme=acme,
                    https_note=_acme_note(app, port) if acme
                    else _ca_note(issuer.ca, _example_url(app, https_port)) if issuer is not None
                    else "")
        if acme:
            certificates = _start_worker(app, https_port, stop_certificates)
        elif issuer is not None:
            certificates = _start_local_issuer(app, issuer, https_port, stop_certificates)
        scheme, shown = ("https", https_port) if https_port else ("http", port)
        click.echo("Add a domain live:  LANDINGPAD_DATA_DIR=" + str(data_dir)
                   + " landingpad domain add shop.localhost --title Shop\n"
                   + f"  then open {scheme}://shop.localhost:{shown}/\nCtrl-C stops.\n")
        code = stack.wait()
        click.echo(f"a server exited ({code}); stopping")
    except KeyboardInterrupt:
        click.echo("\nstopping")
    finally:
        # A second Ctrl-C or SIGTERM must not cut the stopping short and leave a child.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        stop_certificates.set()
        if certificates is not None:
            certificates.join(5)  # a daemon thread: an order still under way ends with us
        stack.stop()
        if subreaper and (left := _stop_orphans()):
            click.echo(f"stopped {len(left)} process(es) left behind (pids "
                       f"{', '.join(map(str, left))})")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


# prctl(PR_SET_CHILD_SUBREAPER): Linux gives this process the descendants whose parent dies.
PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> bool:
    """Make orphaned descendants this process's children (Linux; False elsewhere).

    A uWSGI master that does not stop in time is killed, and its workers would live on
    (a worker that forked while another thread held the GIL waits for it forever, and
    ignores SIGTERM). As the subreaper, the demo finds them again and stops them by pid.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _stop_orphans() -> list[int]:
    """SIGKILL and reap every child process still left (only orphans: nginx and uWSGI
    themselves were stopped and reaped by Stack.stop). Returns their pids."""
    me, killed = os.getpid(), []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return killed
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid != me:
            continue
        pid = int(entry)
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            killed.append(pid)
    return killed


def _local_issuer(app, data_dir: Path):  # noqa: ANN001 - returns a tls.localca.LocalIssuer
    """The data dir's demo CA, and a certificate from it for every *.localhost host now."""
    from landingpad.sites import get_registry
    from landingpad.tls import LocalIssuer, load_or_create_local_ca

    issuer = LocalIssuer(data_dir, load_or_create_local_ca(data_dir))
    _say_skipped(issuer.sync(get_registry(app).config).skipped)
    return issuer


def _example_url(app, https_port: int) -> str:  # noqa: ANN001
    from landingpad.tls import local_ca_covers

    domains = [d for d in app.extensions["landingpad.sites"].domains() if local_ca_covers(d)]
    return f"https://{(domains or ['shop.localhost'])[0]}:{https_port}/"


def _say_skipped(hosts: list[str]) -> None:
    for host in hosts:
        click.echo(f"no HTTPS for {host}: the demo CA signs only *.localhost names "
                   "(LANDINGPAD_ACME_DIRECTORY set to an ACME CA orders them instead)")


def _ca_note(ca, url: str) -> str:  # noqa: ANN001 - tls.localca.LocalCA
    made = "made just now" if ca.created else "made on an earlier run"
    return (f"HTTPS certificates come from the demo's own CA, \"{ca.common_name}\", "
            f"{made}:\n  {ca.cert_path}\n"
            "Trust it to open the https URLs without a warning:\n"
            f"  curl --cacert {ca.cert_path} {url}\n"
            "  or import that file in the browser (certificate settings > Authorities: "
            "trust for websites).")


def _acme_note(app, port: int) -> str:  # noqa: ANN001
    config = app.config
    where = config["ACME_HTTP_PORT"]
    return (f"HTTPS certificates are ordered from {config['ACME_DIRECTORY']} "
            "(LANDINGPAD_ACME_DIRECTORY) by the certificate worker, which runs inside this "
            f"demo; the CA checks each host over HTTP on port {where}"
            + (" (the demo's)" if where == port else "")
            + ".\nProgress:  landingpad tls status")


def _start_worker(app, https_port: int, stop: threading.Event) -> threading.Thread:  # noqa: ANN001
    """The certificate worker (tls.worker.loop) as a thread of this process.

    A thread rather than a `landingpad tls worker` child: nothing more to stop or to
    leak when the demo is killed (even with SIGKILL), its reports are printed here as
    the URLs they make work, and a pass is I/O (the CA, the probe), so the GIL is not
    in the way. Production runs the same loop as its own service (landingpad-tls).
    """
    from landingpad.tls import worker_loop

    def said(report) -> None:  # noqa: ANN001 - tls.worker.PassReport
        for host in report.issued:
            click.echo(f"certificate issued: https://{host}:{https_port}/")
        for host, error in report.failed.items():
            click.echo(f"no certificate yet for {host}: {error}")
        for host in report.retired:
            click.echo(f"certificate expired: {host}")

    def work() -> None:
        with app.app_context():
            worker_loop(app, interval=60.0, stop=stop.is_set, on_pass=said)

    thread = threading.Thread(target=work, name="certificate-worker", daemon=True)
    thread.start()
    return thread


def _start_local_issuer(app, issuer, https_port: int,  # noqa: ANN001
                        stop: threading.Event) -> threading.Thread:
    """Certificates from the demo CA for hosts added while the demo runs (a thread)."""
    from landingpad.tls import run_local_ca

    def said(report, messages: list[str]) -> None:  # noqa: ANN001 - localca.SyncReport
        for host in report.issued:
            click.echo(f"certificate from the demo CA: https://{host}:{https_port}/")
        for host in report.retired:
            click.echo(f"{host} left the sites file: its certificate is no longer served")
        _say_skipped(report.skipped)
        for message in messages:
            if "failed" in message or "not updated" in message:
                click.echo(message)

    def work() -> None:
        with app.app_context():
            run_local_ca(app, issuer, stop, on_sync=said)

    thread = threading.Thread(target=work, name="demo-certificates", daemon=True)
    thread.start()
    return thread


def _print_urls(app, port: int, admin_port: int | None = None,  # noqa: ANN001
                https_port: int | None = None, https_note: str = "",
                acme: bool = False) -> None:
    click.echo("Open these in a browser (*.localhost needs no DNS setup):")
    for domain in app.extensions["landingpad.sites"].domains():
        if https_port:
            click.echo(f"  https://{domain}:{https_port}/   (http://{domain}:{port}/ "
                       + ("redirects there once it has a certificate)" if acme
                          else "redirects here)"))
        else:
            click.echo(f"  http://{domain}:{port}/")
    if https_note:
        click.echo("\n" + https_note)
    if admin_host := app.config["ADMIN_HOST"]:
        click.echo(f"\nAdmin area: http://{admin_host}:{admin_port or port}/ "
                   "(accounts: landingpad user create)")
    click.echo("\nExport the sign-ups with:  landingpad export\n")
