"""``landingpad dns check``: each domain's mail records, as published and as they should be."""

from __future__ import annotations

import json

import click

from landingpad.cli import AppLoader, pass_app
from landingpad.dnscheck.checks import DomainReport, Role, Verdict
from landingpad.dnscheck.report import check_domains, install_plan
from landingpad.sites import SiteRegistry
from landingpad.sites.host import InvalidHost, normalize_host
from landingpad.sites.sitesfile import SitesFileError

_ROLES = {Role.SENDING: "sends mail (the From domain of {sites})",
          Role.NO_MAIL: "sends no mail (site {sites})",
          Role.OWNER_MAIL: "your own mail (site {sites})"}


@click.group("dns")
def dns() -> None:
    """The DNS records mail from your domains needs (SPF, DKIM, DMARC)."""


@dns.command("check")
@click.argument("domains", nargs=-1, metavar="[DOMAIN]...")
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
@pass_app
def check(load_app: AppLoader, domains: tuple[str, ...], as_json: bool) -> None:
    """Check DOMAIN's records (default: every site's domain and From domain).

    Prints what is published, what to publish, and a verdict per check. The
    exit status is 1 when a check fails or DNS gave no usable answer.
    """
    config = load_app.config()  # settings only: no app, no database
    try:
        registry = SiteRegistry(config["SITES"], check_seconds=3600)
    except SitesFileError as exc:
        raise click.ClickException(str(exc)) from None
    known = install_plan(registry).roles
    wanted = []
    for name in domains:
        try:
            domain = normalize_host(name)
        except InvalidHost as exc:
            raise click.BadParameter(f"{name!r}: {exc}", param_hint="DOMAIN") from None
        if domain not in known:
            raise click.BadParameter(
                f"{domain} is neither a site in the sites file nor a site's From domain"
                f" (known: {', '.join(known) or 'none'})", param_hint="DOMAIN")
        wanted.append(domain)
    reports = check_domains(config, registry, list(dict.fromkeys(wanted)) or None)
    failed = any(r.verdict.failed for r in reports)
    if as_json:
        click.echo(json.dumps({"ok": not failed, "domains": [r.as_json() for r in reports]},
                              indent=2))
    else:
        for report in reports:
            _print(report)
        if not reports:
            click.echo("No sites in the sites file.")
    if failed:
        raise SystemExit(1)


def _print(report: DomainReport) -> None:
    role = _ROLES[report.role].format(sites=", ".join(report.sites))
    click.echo(f"{report.domain}: {role}: {report.verdict.upper()}")
    for check in report.checks:
        mark = check.verdict.upper() if check.verdict != Verdict.OK else "ok"
        click.echo(f"  [{mark}] {check.name} ({check.record})")
        for text in check.published:
            click.echo(f"      published: {text}")
        click.echo(f"      {check.detail}")
        if check.expected:
            click.echo(f"      publish:   {check.expected}")
    click.echo()
