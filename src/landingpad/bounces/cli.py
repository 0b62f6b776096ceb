"""``landingpad bounces fetch|import|list|show``"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import click

from landingpad.bounces.mailbox import BounceSourceError, fetch_mailbox, read_files
from landingpad.bounces.process import BATCH, BATCH_BYTES, Processor, Result, unmatched_reports
from landingpad.cli import AppLoader, pass_app
from landingpad.storage import session_factory
from landingpad.storage.models import BounceReport

_ORDER = (Result.HARD, Result.SOFT, Result.COMPLAINT, Result.DELAYED, Result.UNMATCHED,
          Result.DUPLICATE)


@click.group()
def bounces() -> None:
    """Bounces and complaints: read them, suppress dead and complaining addresses."""


def _summary(counts: Counter[Result], what: str) -> str:
    total = sum(counts.values())
    parts = ", ".join(f"{counts[r]} {r.value}" for r in _ORDER if counts[r])
    line = f"{total} {what} read" + (f": {parts}" if parts else "")
    if counts[Result.UNMATCHED]:
        line += " (kept aside: landingpad bounces list)"
    return line


@bounces.command("fetch")
@pass_app
def fetch(load_app: AppLoader) -> None:
    """Read the new messages of the bounce mailbox (LANDINGPAD_BOUNCE_IMAP_URL)."""
    app = load_app()
    url = app.config["BOUNCE_IMAP_URL"]
    if not url:
        raise click.ClickException("LANDINGPAD_BOUNCE_IMAP_URL is not set: no bounce mailbox "
                                   "to read (or use `landingpad bounces import FILE`)")
    processor = Processor(app)
    try:
        counts = fetch_mailbox(processor, url, app.config["BOUNCE_CA_BUNDLE"])
    except BounceSourceError as exc:
        raise click.ClickException(str(exc)) from None
    processor.forget_old_bytes()
    click.echo(_summary(counts, "messages"))


@bounces.command("import")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def import_files(load_app: AppLoader, files: tuple[Path, ...]) -> None:
    """Read reports from FILES (.eml, one message each, or mbox). Each is read only once,
    however often it is imported."""
    try:
        found = read_files(list(files))
    except BounceSourceError as exc:
        raise click.ClickException(f"{exc}; nothing imported") from None
    app = load_app()
    processor = Processor(app)
    counts: Counter[Result] = Counter()
    batch: list[bytes] = []
    for raw in (raw for _path, messages in found for raw in messages):
        batch.append(raw)
        if len(batch) >= BATCH or sum(map(len, batch)) >= BATCH_BYTES:
            counts.update(processor.process_batch(batch, "file"))
            batch = []
    if batch:
        counts.update(processor.process_batch(batch, "file"))
    processor.forget_old_bytes()
    click.echo(_summary(counts, "reports"))


@bounces.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@pass_app
def list_unmatched(load_app: AppLoader, limit: int) -> None:
    """The reports kept aside because they can't be matched, newest first."""
    app = load_app()
    with session_factory(app)() as session:
        rows = unmatched_reports(session, limit)
    if not rows:
        click.echo("no unmatched reports")
        return
    for row in rows:
        subject = click.unstyle(row.subject or "(no subject)").replace("\n", " ")
        click.echo(f"#{row.id}  {row.received_at:%Y-%m-%d %H:%M}  {row.source}  "
                   f"{subject[:60]!r}\n      {row.reason}")


@bounces.command("show")
@click.argument("report_id", type=int)
@pass_app
def show(load_app: AppLoader, report_id: int) -> None:
    """Write an unmatched report's message to standard output (as it was received)."""
    app = load_app()
    with session_factory(app)() as session:
        row = session.get(BounceReport, report_id)
        if row is None or row.raw is None:
            raise click.ClickException(f"no unmatched report #{report_id} with its message "
                                       "kept (the bytes are dropped after 30 days)")
        sys.stdout.buffer.write(row.raw)
