"""``landingpad tls status|issue|renew|worker``."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import click

from landingpad.cli import pass_app
from landingpad.sites.host import InvalidHost, normalize_host


@click.group()
def tls() -> None:
    """HTTPS certificates for every domain (ACME, HTTP-01 through nginx)."""


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"


@tls.command("status")
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per host.")
@pass_app
def status(load_app, as_json: bool) -> None:  # noqa: ANN001
    """One line per host: domain, state, not-after, next attempt, last error (tab-separated)."""
    from landingpad.tls.status import last_pending_by, rows
    from landingpad.tls.worker import printable

    app = load_app()
    found = rows(app)
    if as_json:
        click.echo(json.dumps([row.as_json() for row in found], indent=2))
        return
    for row in found:
        click.echo("\t".join((row.domain, row.state, _when(row.not_after),
                              _when(row.next_attempt), printable(row.last_error or ""))))
    if not app.config["ACME_DIRECTORY"]:
        click.echo("# automatic certificates are off (LANDINGPAD_ACME_DIRECTORY is empty)",
                   err=True)
    elif (by := last_pending_by(app)) is not None:
        click.echo(f"# the last pending host should have its certificate by {_when(by)} "
                   "(within the CA's limits; back-off of failing hosts not counted)", err=True)


def _report(report, verbose: bool = True) -> None:  # noqa: ANN001
    for host in report.issued:
        click.echo(f"issued {host}")
    for host in report.pulled:
        click.echo(f"copied {host} (from the shared database)")
    for host, error in report.failed.items():
        click.echo(f"failed {host}: {error}")
    for host in report.unreadable:
        click.echo(f"unreadable {host}: its file is not a certificate and key; taken out "
                   "of service (kept in tls/expired/)", err=True)
    for host in report.retired:
        if host not in report.unreadable:
            click.echo(f"retired {host}: expired, or no longer in the sites file")
    if report.unsealable:
        click.echo(f"{len(report.unsealable)} certificates in the database are sealed with "
                   "another secret key: this node can't serve them. Every node needs the same "
                   "LANDINGPAD_SECRET_KEY.", err=True)
    for message in report.nginx:
        click.echo(message)
    if not report.ran:
        click.echo(f"another orderer is running ({report.holder or 'unknown'}): "
                   "it takes what is due (hosts named to `tls issue` are due now)")
    elif verbose and not (report.issued or report.failed or report.retired or report.pulled
                          or report.unsealable):
        click.echo("nothing due")


def _enabled(app) -> None:  # noqa: ANN001
    if not app.config["ACME_DIRECTORY"]:
        raise click.ClickException("automatic certificates are off: set "
                                   "LANDINGPAD_ACME_DIRECTORY (empty turns them off)")


@tls.command("issue")
@click.argument("domains", nargs=-1, metavar="[DOMAIN]...")
@pass_app
def issue(load_app, domains: tuple[str, ...]) -> None:  # noqa: ANN001
    """Order certificates now: for the DOMAINs named (whatever their back-off), or for
    every host that needs one."""
    from landingpad.tls.worker import run_pass, wanted_hosts

    app = load_app()
    _enabled(app)
    hosts = []
    for name in domains:
        try:
            hosts.append(normalize_host(name))
        except InvalidHost as exc:
            raise click.BadParameter(f"{name!r}: {exc}", param_hint="DOMAIN") from None
    unknown = sorted(set(hosts) - set(wanted_hosts(app)))
    if unknown:
        raise click.BadParameter(
            f"not in the sites file, or served with the owner's own certificate: "
            f"{', '.join(unknown)}", param_hint="DOMAIN")
    report = run_pass(app, hosts or None, force=bool(hosts))
    _report(report)
    if report.failed:
        raise SystemExit(1)


@tls.command("renew")
@pass_app
def renew(load_app) -> None:  # noqa: ANN001
    """One pass: order what is due, renew what must be, retire what expired. For a timer;
    safe to run while another pass (here or on another node) runs."""
    from landingpad.tls.worker import run_pass

    app = load_app()
    _enabled(app)
    _report(run_pass(app))


@tls.command("sync")
@pass_app
def sync(load_app) -> None:  # noqa: ANN001
    """This node only: copy newer certificates from the shared database into its own
    tls/live/, retire expired and removed ones, re-render nginx if a host changed. (The
    worker and `tls renew` do this on every pass; this never talks to the CA.)"""
    from landingpad.storage import session_factory
    from landingpad.tls.worker import PassReport, local_pass, refresh_nginx

    app = load_app()
    report = PassReport()
    if local_pass(app, session_factory(app), report):
        report.nginx = refresh_nginx(app)
    _report(report)
    if report.unsealable or report.unreadable:
        raise SystemExit(1)


@tls.command("worker")
@click.option("--interval", default=60.0, show_default=True, type=click.FloatRange(1, 3600),
              help="Seconds between passes when nothing is due sooner.")
@pass_app
def worker(load_app, interval: float) -> None:  # noqa: ANN001
    """Run passes until stopped (SIGTERM/Ctrl-C): new domains get their certificate within
    seconds of pointing here."""
    import signal

    from landingpad.tls.worker import loop

    app = load_app()
    _enabled(app)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    click.echo(f"certificate worker started ({app.config['ACME_DIRECTORY']})")
    with contextlib.suppress(KeyboardInterrupt):
        loop(app, interval, stop=lambda: bool(stopping),
             on_pass=lambda report: _report(report, verbose=False))
