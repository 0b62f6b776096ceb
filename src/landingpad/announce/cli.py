"""``landingpad announce create|preview|test|send|status|resend-unknown``"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import click
from sqlalchemy import update
from tqdm import tqdm

from landingpad.announce.compose import render_email, send_test_copy
from landingpad.announce.send import send_announcement
from landingpad.announce.states import counts
from landingpad.cli import AppLoader, pass_app
from landingpad.dnscheck import send_blockers
from landingpad.mail.cli import EMAIL
from landingpad.mail.transports import DeliveryError
from landingpad.sites import get_registry
from landingpad.sites.host import InvalidHost, normalize_host
from landingpad.storage import session_factory
from landingpad.storage.models import Announcement, Recipient, RecipientState
from landingpad.storage.types import utcnow

MAX_BODY = 100_000


def _load(session, announcement_id: int) -> Announcement:  # noqa: ANN001
    announcement = session.get(Announcement, announcement_id)
    if announcement is None:
        raise click.ClickException(f"no announcement {announcement_id}")
    return announcement


@click.group()
def announce() -> None:
    """Compose, preview, test and send the launch announcement."""


@announce.command("create")
@click.option("--site", "sites", multiple=True, required=True, metavar="DOMAIN",
              help="A site whose sign-ups receive it (repeatable).")
@click.option("--interest", metavar="NAME", help="Only those who ticked this interest.")
@click.option("--subject", required=True)
@click.option("--body-file", required=True, type=click.File("r", encoding="utf-8"),
              help="The message in Markdown.")
@pass_app
def create(load_app: AppLoader, sites: tuple[str, ...], interest: str | None, subject: str,
           body_file: TextIO) -> None:
    """Store a new announcement and print its id."""
    app = load_app()
    registry = get_registry(app)
    domains = []
    for name in sites:
        try:
            domain = normalize_host(name)
        except InvalidHost as exc:
            raise click.BadParameter(f"{name!r}: {exc}", param_hint="--site") from None
        if registry.site_for_host(domain) is None:
            raise click.BadParameter(f"{domain} is not in the sites file", param_hint="--site")
        domains.append(domain)
    if interest is not None:
        interest = interest.strip()
        if not interest or len(interest) > 80 or any(ord(c) < 32 for c in interest):
            raise click.BadParameter("one line of 1 to 80 characters", param_hint="--interest")
    subject = subject.strip()
    if not subject or len(subject) > 200 or any(c in subject for c in "\r\n\x00"):
        raise click.BadParameter("one line of at most 200 characters", param_hint="--subject")
    body = body_file.read(MAX_BODY + 1)
    if len(body) > MAX_BODY or not body.strip():
        raise click.BadParameter(f"must hold 1 to {MAX_BODY:,} characters",
                                 param_hint="--body-file")
    with session_factory(app)() as session:
        announcement = Announcement(subject=subject, body_markdown=body,
                                    sites=list(dict.fromkeys(domains)), interest=interest,
                                    created_at=utcnow())
        session.add(announcement)
        session.commit()
        click.echo(announcement.id)


@announce.command("preview")
@click.argument("announcement_id", type=int)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Folder for the preview files.")
@pass_app
def preview(load_app, announcement_id: int, out: Path) -> None:  # noqa: ANN001
    """Write the HTML and text versions (one per site) and print their paths."""
    app = load_app()
    out.mkdir(parents=True, exist_ok=True)
    with app.app_context(), session_factory(app)() as session:
        announcement = _load(session, announcement_id)
        for domain in announcement.sites:
            site = get_registry(app).site_for_host(domain)
            text, html = render_email(site, announcement.subject, announcement.body_markdown,
                                      f"https://{domain}/unsubscribe/PREVIEW")
            for suffix, content in (("html", html), ("txt", text)):
                path = out / f"announcement-{announcement_id}-{domain}.{suffix}"
                path.write_text(content, encoding="utf-8")
                click.echo(path)


@announce.command("test")
@click.argument("announcement_id", type=int)
@click.option("--to", "to", required=True, metavar="ADDRESS", type=EMAIL)
@pass_app
def test(load_app, announcement_id: int, to: str) -> None:  # noqa: ANN001
    """Send one copy to ADDRESS, as the first site's sign-ups would get it."""
    app = load_app()
    with app.app_context(), session_factory(app)() as session:
        try:
            send_test_copy(_load(session, announcement_id), to)
        except DeliveryError as exc:
            raise click.ClickException(f"not sent: {exc}") from None
    click.echo(f"test message sent to {to}")


@announce.command("send")
@click.argument("announcement_id", type=int)
@click.option("--rate", type=click.FloatRange(min=0.1), help="At most this many messages/s.")
@click.option("--connections", type=click.IntRange(1, 8),
              help="SMTP connections side by side (default: ANNOUNCE_CONNECTIONS, 4).")
@click.option("--batch", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--retry-delay", default=60.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds before the first retry of a 4xx reply (doubles each time).")
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.option("--force", is_flag=True,
              help="Send even when a site's DKIM or DMARC record is missing or wrong.")
@pass_app
def send(load_app: AppLoader, announcement_id: int, rate: float | None,
         connections: int | None, batch: int, retry_delay: float, progress: bool,
         force: bool) -> None:
    """Send to every recipient not yet handled; safe to stop and run again.

    Nobody gets it twice: a message that may have reached the server when a
    sender stopped is marked `unknown` and left for `resend-unknown`.

    First the DKIM and DMARC records of each site's From domain are checked
    (as `landingpad dns check` does): Gmail, Yahoo and Outlook reject bulk mail
    without them, so it refuses to send unless given --force.
    """
    app = load_app()
    if not force:
        _refuse_undeliverable(app, announcement_id)
    bar: tqdm | None = None

    def start(added: int, to_send: int) -> None:
        nonlocal bar
        if added:
            click.echo(f"{added} recipients")
        bar = tqdm(total=to_send, unit="msg", disable=not progress, leave=True)

    def step(state: str) -> None:
        if bar is not None:  # a 4xx puts its row back: not one done yet
            bar.update(0 if state == RecipientState.PENDING else 1)

    try:
        outcome = send_announcement(app, announcement_id, rate=rate, connections=connections,
                                    batch=batch, retry_delay=retry_delay, on_start=start,
                                    on_progress=step)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    except DeliveryError as exc:  # no SMTP server to talk to: every row still to send
        raise click.ClickException(f"{exc.reply}; stopped, the rest still to send: run "
                                   "`announce send` again once it answers") from None
    except KeyboardInterrupt:
        raise click.ClickException("stopped; run `announce send` again to go on") from None
    finally:
        if bar is not None:
            bar.close()
    click.echo(" ".join(f"{k} {v}" for k, v in sorted(outcome.items())) or "nothing to send")


def _refuse_undeliverable(app, announcement_id: int) -> None:  # noqa: ANN001
    with session_factory(app)() as session:
        announcement = session.get(Announcement, announcement_id)
        sites = list(announcement.sites) if announcement is not None else []
    reasons = send_blockers(app.config, get_registry(app), sites)
    if reasons:
        raise click.ClickException(
            "not sending: receivers would reject or junk this mail:\n"
            + "\n".join(f"  - {reason}" for reason in reasons)
            + "\nFix the records (`landingpad dns check` shows them all), or send anyway "
              "with --force.")


@announce.command("status")
@click.argument("announcement_id", type=int)
@pass_app
def status(load_app, announcement_id: int) -> None:  # noqa: ANN001
    """Recipients per state; `unknown` ones are listed with their addresses."""
    with session_factory(load_app())() as session:
        _load(session, announcement_id)
        for state, n in counts(session, announcement_id).items():
            click.echo(f"{state} {n}")
        unknown = session.scalars(
            Recipient.__table__.select().with_only_columns(Recipient.email).where(
                Recipient.announcement_id == announcement_id,
                Recipient.state == RecipientState.UNKNOWN))
        for email in unknown:
            click.echo(f"  unknown: {email}")


@announce.command("resend-unknown")
@click.argument("announcement_id", type=int)
@click.confirmation_option(prompt="These may have been delivered already. Send them again?")
@pass_app
def resend_unknown(load_app, announcement_id: int) -> None:  # noqa: ANN001
    """Put `unknown` recipients back in the queue (they may get the message twice)."""
    with session_factory(load_app())() as session:
        _load(session, announcement_id)
        result = session.execute(update(Recipient).where(
            Recipient.announcement_id == announcement_id,
            Recipient.state == RecipientState.UNKNOWN)
            .values(state=RecipientState.PENDING, next_attempt_at=None, claimed_by=None))
        session.commit()
    click.echo(f"{result.rowcount} recipients queued again; run `announce send` to send them")
