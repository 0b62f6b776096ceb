"""``landingpad deploy render`` and ``landingpad domain list|add|remove|import``."""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from landingpad.cli import pass_app
from landingpad.deploy.domains import DomainError, DomainManager
from landingpad.deploy.nginx import Nginx, NginxError, find_nginx
from landingpad.deploy.render import (
    DEFAULT_ADMIN_LISTEN,
    DeployOptions,
    nginx_upstream,
    prepare_dirs,
    render_all,
)
from landingpad.deploy.systemd import DEFAULT_GROUP, DEFAULT_USER, render_units
from landingpad.files import PASSAGE_DIR, SHARED_DIR, make_dir, write_atomic
from landingpad.sites import get_registry
from landingpad.sites.edit import add_site, remove_site
from landingpad.sites.host import InvalidHost, normalize_host
from landingpad.sites.site import FIELDS_BY_KEY, SITE_FIELDS, SiteField, parse_value
from landingpad.sites.sitesfile import load_sites


@click.group()
def deploy() -> None:
    """Generate the production configuration (nginx + uWSGI)."""


@deploy.command("render")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the files (default: $LANDINGPAD_DEPLOY_DIR).")
@click.option("--listen", default="80", show_default=True, help="nginx HTTP listen address.")
@click.option("--https-listen", default="443", show_default=True,
              help="nginx HTTPS listen address: one server block for every domain with a "
                   "certificate. \"\" turns HTTPS off (no listener, no redirect).")
@click.option("--upstream", "upstreams", multiple=True, metavar="unix:PATH|HOST:PORT",
              help="uWSGI node(s); repeat for several (default: the local socket).")
@click.option("--socket", default="", metavar="PATH|HOST:PORT",
              help="Where this node's uWSGI listens (default: a unix socket in the deploy "
                   "dir; an app node behind another machine's nginx: a private HOST:PORT, "
                   "with --socket-on-private-network).")
@click.option("--socket-on-private-network", is_flag=True,
              help="Allow a --socket HOST:PORT beyond loopback. The uwsgi protocol has no "
                   "authentication: anyone who can reach that port can run code as the "
                   "app's user and enter the admin area. Only on a private network that "
                   "nothing but nginx's machine can reach (firewall it).")
@click.option("--processes", type=click.IntRange(1, 64), help="uWSGI worker processes.")
@click.option("--cache-seconds", default=1, show_default=True, type=click.IntRange(0, 3600),
              help="Micro-cache lifetime of GET / in nginx.")
@click.option("--signup-rate", default="20r/m", show_default=True,
              help="nginx limit_req rate for POST /signup per client.")
@click.option("--client-max-body-size", default="16k", show_default=True)
@click.option("--admin-listen", default=DEFAULT_ADMIN_LISTEN, show_default=True,
              metavar="ADDRESS",
              help="Where the admin host listens. Beyond loopback it needs --admin-tls-cert "
                   "and --admin-tls-key (or --admin-insecure-http).")
@click.option("--admin-tls-cert", type=click.Path(exists=True, dir_okay=False, resolve_path=True),
              help="Certificate (PEM) for the admin host: its listener is TLS only.")
@click.option("--admin-tls-key", type=click.Path(exists=True, dir_okay=False, resolve_path=True),
              help="The certificate's key.")
@click.option("--admin-insecure-http", is_flag=True,
              help="Allow the admin area in plain HTTP beyond loopback: its password and "
                   "session cookie cross the network in clear text.")
@click.option("--user", default=DEFAULT_USER, show_default=True,
              help="The account the systemd units run landingpad as.")
@click.option("--group", default=DEFAULT_GROUP, show_default=True,
              help="Their group: nginx's workers' (they reach the socket, read certificates).")
@click.option("--check/--no-check", default=True, show_default=True,
              help="Run nginx -t on the result.")
@pass_app
def render(load_app, out: Path | None, check: bool, **opts: Any) -> None:  # noqa: ANN001
    """Write nginx.conf, landingpad*.conf, uwsgi.ini and systemd units for this install.

    On a server with a system nginx, include OUT/landingpad.conf from its
    http block; OUT/nginx.conf is a complete config for `nginx -c`.
    """
    app = load_app()
    deploy_dir = (out or app.config["DEPLOY_DIR"]).resolve()
    try:
        options = DeployOptions(
            deploy_dir=str(deploy_dir), data_dir=str(app.config["DATA_DIR"]),
            listen=opts["listen"], https_listen=opts["https_listen"],
            upstreams=list(opts["upstreams"]), socket=opts["socket"],
            socket_on_private_network=opts["socket_on_private_network"],
            cache_seconds=opts["cache_seconds"], signup_rate=opts["signup_rate"],
            client_max_body_size=opts["client_max_body_size"],
            sites_file=str(app.config["SITES"]),
            admin_host=app.config["ADMIN_HOST"], admin_listen=opts["admin_listen"],
            admin_tls_certificate=opts["admin_tls_cert"] or "",
            admin_tls_key=opts["admin_tls_key"] or "",
            admin_insecure_http=opts["admin_insecure_http"],
            assets_upstream=nginx_upstream(app.config),
            **({"processes": opts["processes"]} if opts["processes"] else {}),
        )
        sites = load_sites(app.config["SITES"])
        # The deliverer's unit only when there is somewhere to deliver to.
        webhooks = bool(app.config["WEBHOOK_URLS"]) or any(sites.webhooks.values())
        units = render_units(options, user=opts["user"], group=opts["group"],
                             bounces=bool(app.config["BOUNCE_IMAP_URL"]), webhooks=webhooks)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    for name, text in render_all(options, sites).items():
        write_atomic(deploy_dir / name, text.encode())
        click.echo(f"wrote {deploy_dir / name}")
    make_dir(deploy_dir, PASSAGE_DIR)
    make_dir(deploy_dir / "systemd", SHARED_DIR)  # like the other configs: nothing secret
    for name, text in units.items():
        write_atomic(deploy_dir / "systemd" / name, text.encode())
    click.echo(f"wrote {deploy_dir / 'systemd'}/: {', '.join(units)}")
    prepare_dirs(options)
    options.save()
    binary = find_nginx(app.config["NGINX"])
    if check and binary:
        try:
            Nginx(binary, deploy_dir / "nginx.conf").test()
        except NginxError as exc:
            raise click.ClickException(f"nginx -t failed: {exc}") from None
        click.echo("nginx -t: ok")
    elif check:
        click.echo("nginx not found: not tested (apt-get install nginx-light)")


@click.group()
def domain() -> None:
    """Add, remove and list domains (sites file + nginx, in one step)."""


@domain.command("list")
@pass_app
def domain_list(load_app) -> None:  # noqa: ANN001
    """One domain per line: domain, title, aliases (tab-separated)."""
    registry = get_registry(load_app())
    for name in registry.domains():
        site = registry.site_for_host(name)
        aliases = ",".join(registry.config.aliases.get(name, ()))
        click.echo(f"{name}\t{site.title if site else ''}\t{aliases}")


def _hostname(value: str, hint: str) -> str:
    try:
        return normalize_host(value)
    except InvalidHost as exc:
        raise click.BadParameter(f"{value!r} is not a valid host name ({exc})",
                                 param_hint=hint) from None


# Every site field is an option of `domain add` and a column of `domain import`, named after
# its key: LANDING_DOUBLE_OPTIN -> --double-optin and column double_optin. LANDING_DOMAIN is
# the DOMAIN argument and the domain column (a site's table in the sites file is named after
# its domain, so the key itself is never written there).
def _option(key: str) -> str:
    return "--" + key.removeprefix("LANDING_").lower().replace("_", "-")


def _column(key: str) -> str:
    return key.removeprefix("LANDING_").lower()


FIELDS = tuple(f for f in SITE_FIELDS if f.key != "LANDING_DOMAIN")
COLUMNS = {_column(f.key): f.key for f in FIELDS}


def _is_flag(f: SiteField) -> bool:
    return isinstance(f.default, bool)


def _is_list(f: SiteField) -> bool:
    return isinstance(f.default, tuple)


def site_values(fields: Mapping[str, Any], name_of: Callable[[str], str],
                at: str = "") -> dict[str, Any]:
    """Parse LANDING_* values given as options or CSV cells, with the sites file's parsers.

    None, "" and () mean "not given" (the site takes the defaults). A bad value raises
    BadParameter naming ``at``, the option or column (``name_of(key)``) and the key;
    nothing has been written yet.
    """
    parsed: dict[str, Any] = {}
    for key, raw in fields.items():
        if raw in (None, "", ()):
            continue
        try:
            parsed[key] = parse_value(key, raw)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=f"{at}{name_of(key)} ({key})") from None
    return parsed


def _extras(aliases: Sequence[str], cert: str | None, key: str | None,
            hint: str) -> dict[str, Any]:
    """The sites file's keys that are not site fields: aliases and an owner's certificate."""
    extras: dict[str, Any] = {}
    if aliases:
        extras["aliases"] = [_hostname(a, hint) for a in aliases]
    if cert:
        extras["tls_certificate"] = str(cert)
    if key:
        extras["tls_certificate_key"] = str(key)
    return extras


def _apply(load_app, edit: Callable[[str], str]) -> None:  # noqa: ANN001
    manager = DomainManager.from_config(load_app.config())
    try:
        outcome = manager.apply(edit)
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    for message in outcome.messages:
        click.echo(message)


def _site_field_options(command: Callable[..., None]) -> Callable[..., None]:
    """One option per site field, in the table's order; its parameter is named by the key."""
    for f in reversed(FIELDS):
        name = _option(f.key)
        if _is_flag(f):
            decls = [f"{name}/--no-{name[2:]}", f.key]
            command = click.option(*decls, default=None, help=f.help)(command)
        else:
            extra = " Here: comma-separated." if _is_list(f) else ""
            command = click.option(name, f.key, metavar="TEXT", help=f.help + extra)(command)
    return command


@domain.command("add")
@click.argument("name", metavar="DOMAIN")
@_site_field_options
@click.option("--alias", "aliases", multiple=True, help="Another host name (repeatable).")
@click.option("--tls-cert", type=click.Path(dir_okay=False), help="TLS certificate (PEM) path.")
@click.option("--tls-key", type=click.Path(dir_okay=False), help="TLS key path.")
@pass_app
def domain_add(load_app, name: str, aliases: tuple[str, ...], tls_cert: str | None,  # noqa: ANN001
               tls_key: str | None, **fields: Any) -> None:
    """Add DOMAIN: write the sites file and nginx map, nginx -t, reload (or roll back).

    Every per-site setting has its option (LANDING_FROM: --from); unset ones take the
    sites file's [defaults], then the built-in ones.
    """
    domain_name = _hostname(name, "DOMAIN")
    values = site_values(fields, _option)
    values.update(_extras(aliases, tls_cert, tls_key, "--alias"))
    _apply(load_app, lambda text: add_site(text, domain_name, values))
    click.echo(f"added {domain_name}")


@domain.command("remove")
@click.argument("name", metavar="DOMAIN")
@pass_app
def domain_remove(load_app, name: str) -> None:  # noqa: ANN001
    """Remove DOMAIN from the sites file and nginx (its sign-ups are kept)."""
    domain_name = _hostname(name, "DOMAIN")
    _apply(load_app, lambda text: remove_site(text, domain_name))
    click.echo(f"removed {domain_name}")


IMPORT_COLUMNS = ("domain", *COLUMNS, "aliases")


@domain.command("import")
@click.argument("csv_file", metavar="FILE.csv", type=click.File("r", encoding="utf-8"))
@pass_app
def domain_import(load_app, csv_file) -> None:  # noqa: ANN001
    """Add many domains from a CSV file, all or nothing.

    Columns (header row): domain, and optionally one per per-site setting, named
    after it (LANDING_DOUBLE_OPTIN: double_optin), and aliases. Lists (interests,
    aliases) are ';'-separated; an empty cell takes the defaults.
    """
    reader = csv.DictReader(csv_file)
    unknown = set(reader.fieldnames or []) - set(IMPORT_COLUMNS)
    if not reader.fieldnames or "domain" not in reader.fieldnames or unknown:
        raise click.ClickException(
            f"the header must name 'domain' and only these columns: {', '.join(IMPORT_COLUMNS)}"
            + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else ""))
    rows: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for number, row in enumerate(reader, start=2):
        hint = f"line {number}"
        name = _hostname(_cell(row, "domain"), hint)
        if name in seen:
            raise click.ClickException(f"{hint}: {name} appears twice")
        seen.add(name)
        fields: dict[str, Any] = {}
        for column, key in COLUMNS.items():
            cell = _cell(row, column)
            fields[key] = _split(cell) if _is_list(FIELDS_BY_KEY[key]) else cell
        values = site_values(fields, lambda key: f"column {_column(key)}", at=f"{hint}, ")
        values.update(_extras(_split(_cell(row, "aliases")), None, None, f"{hint}, column aliases"))
        rows.append((name, values))

    def edit(text: str) -> str:
        for name, values in rows:
            text = add_site(text, name, values)
        return text

    _apply(load_app, edit)
    click.echo(f"imported {len(rows)} domains")


def _cell(row: Mapping[str, str | None], column: str) -> str:
    return (row.get(column) or "").strip()


def _split(cell: str) -> tuple[str, ...]:
    """A ';'-separated list cell (commas may be part of a name in a CSV file)."""
    return tuple(p.strip() for p in cell.split(";") if p.strip())
