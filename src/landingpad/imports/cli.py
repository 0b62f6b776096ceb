"""``landingpad import FILE.csv --site DOMAIN [--source TEXT] [--dry-run]``"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from tqdm import tqdm

from landingpad.cli import AppLoader, pass_app
from landingpad.imports.importer import Importer, Report, Skipped
from landingpad.imports.rows import (
    COLUMNS,
    DELIMITERS,
    FileError,
    Problem,
    RowChecker,
    read_records,
)
from landingpad.sites import get_registry
from landingpad.sites.host import InvalidHost, normalize_host
from landingpad.storage import session_factory

EXIT_REFUSED = 1  # rows refused: nothing written
EXIT_UNUSABLE = 2  # the file, the site or an option can't be used: nothing written

_DELIMITERS_HELP = ", ".join(DELIMITERS.values()).replace(", tab", " or tab")
_COLUMNS_HELP = "\n".join(f"  {name}: {text}" for name, text in COLUMNS.items())


class Unusable(click.ClickException):
    exit_code = EXIT_UNUSABLE


@click.command("import", help=f"""Import sign-ups from another tool into DOMAIN, with the
proof of each one's consent; all or nothing.

FILE.csv is UTF-8 (with or without BOM), its first line a header row naming
the columns (any order, any case), separated by a {_DELIMITERS_HELP}:

\b
{_COLUMNS_HELP}

consent_text or consent_version is required on every row. Times without an
offset are UTC. No mail is sent to imported addresses.

If any row is refused (bad address, date, interest, consent...), nothing is
imported and every refused row is listed (exit status {EXIT_REFUSED}). Rows whose
address is repeated in the file, already signed up to DOMAIN, or on the
suppression list are skipped and listed; the others are imported. The report
names lines and columns, not the rows' other data. Exit status {EXIT_UNUSABLE}: the
file or site can't be used; nothing changed.""")
@click.argument("csv_path", metavar="FILE.csv", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--site", "site_name", metavar="DOMAIN", required=True,
              help="The site the sign-ups are for (a domain of the sites file).")
@click.option("--source", "default_source", metavar="TEXT",
              help="Where consent was given, for rows with no source cell "
                   "(e.g. 'mailchimp export 2026-10').")
@click.option("--dry-run", is_flag=True, help="Check and report only; write nothing.")
@pass_app
def import_command(load_app: AppLoader, csv_path: Path, site_name: str,
                   default_source: str | None, dry_run: bool) -> None:
    try:
        domain = normalize_host(site_name)
    except InvalidHost as exc:
        raise Unusable(f"--site: {exc}") from None
    app = load_app()
    site = get_registry(app).site_for_host(domain)
    if site is None:  # an alias names its site: the sign-ups are filed under the site's domain
        raise Unusable(f"{domain} is not a site in {app.config['SITES']} "
                       "(`landingpad domain add` makes one)")
    if default_source is not None and not default_source.strip():
        raise Unusable("--source must not be empty")
    checker = RowChecker(site, default_source and default_source.strip())
    progress = sys.stderr.isatty()
    with session_factory(app)() as session:
        importer = Importer(session, site, app.config["SECRET_KEY"])
        try:
            records = read_records(csv_path, default_source=bool(default_source))
            for line, cells in tqdm(records, unit=" rows", disable=not progress,
                                    desc="checking", leave=False):
                importer.report.rows += 1
                if isinstance(cells, str):
                    importer.refuse([Problem(line, None, cells)])
                    continue
                row, problems, duplicate = checker.check(line, cells)
                importer.refuse(problems)
                if duplicate is not None:
                    importer.skip(Skipped.DUPLICATE, duplicate)
                if row is not None:
                    importer.add(row)
        except FileError as exc:
            raise Unusable(f"{csv_path}: {exc}; nothing was imported") from None
        if importer.report.rows == 0:
            raise Unusable(f"{csv_path}: no rows after the header; nothing was imported")
        report = importer.finish()
        if not report.refused and not dry_run:
            report = importer.write()
    _print_report(report, dry_run)
    if report.refused:
        sys.exit(EXIT_REFUSED)


def _print_report(report: Report, dry_run: bool) -> None:
    for title, problems in (("refused", report.refused),
                            *((kind.value, found) for kind, found in report.skipped.items())):
        if problems:
            click.echo(f"{title}:")
            for problem in sorted(problems, key=lambda p: p.line):
                click.echo(f"  {problem}")
    if report.refused:
        outcome = f"nothing imported: {len(report.refused)} problem(s) in " \
                  f"{len({p.line for p in report.refused})} refused row(s)"
    elif dry_run:
        outcome = f"dry run, nothing written: {report.imported} would be imported"
    else:
        outcome = f"{report.imported} imported"
    skipped = report.skipped
    click.echo(f"{report.site}: {report.rows} rows read; {outcome}; "
               f"{len(skipped[Skipped.DUPLICATE])} duplicates in the file, "
               f"{len(skipped[Skipped.EXISTING])} already signed up, "
               f"{len(skipped[Skipped.SUPPRESSED])} suppressed (skipped)")
