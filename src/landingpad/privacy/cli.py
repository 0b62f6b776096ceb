"""``landingpad forget EMAIL`` and ``landingpad purge``"""

from __future__ import annotations

from pathlib import Path

import click

from landingpad.cli import AppLoader, pass_app
from landingpad.mail.cli import EMAIL
from landingpad.privacy.erasure import forget as forget_address
from landingpad.privacy.erasure import plan_purge
from landingpad.privacy.erasure import purge as run_purge
from landingpad.sites import get_registry
from landingpad.storage import session_factory


@click.command()
@click.argument("email", type=EMAIL)
@click.confirmation_option(prompt="Erase this address from every site, for good?")
@pass_app
def forget(load_app: AppLoader, email: str) -> None:
    """Erase EMAIL across all sites (sign-ups, recipients, mail files) and never mail it again."""
    app = load_app()
    with app.app_context(), session_factory(app)() as session:
        result = forget_address(session, app.config["SECRET_KEY"], email,
                                Path(app.config["DATA_DIR"]) / "mail")
    click.echo(f"erased {result.signups} sign-ups, {result.recipients} recipient rows, "
               f"{len(result.mail_files)} mail files and {result.bounce_reports} kept bounce "
               "reports; the address is on the suppression list")


def _days(value: str | None, default: int) -> int:
    if value is None:
        return default
    units = {"d": 1, "w": 7}
    if len(value) < 2 or value[-1] not in units or not value[:-1].isdigit():
        raise click.BadParameter(f"{value!r}: use a number of days or weeks, like 7d or 4w")
    return int(value[:-1]) * units[value[-1]]


@click.command()
@click.option("--unconfirmed-older-than", "unconfirmed", metavar="AGE",
              help="Never-confirmed double opt-in sign-ups (default from settings, 7d).")
@click.option("--unsubscribed-older-than", "unsubscribed", metavar="AGE",
              help="Unsubscribed sign-ups (default from settings, 30d).")
@click.option("--announcements-older-than", "announcements", metavar="AGE",
              help="Announcements and their recipient lists (default from settings, 180d).")
@click.option("--events-older-than", "events", metavar="AGE",
              help="Events and their webhook deliveries (default from settings, 30d).")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@pass_app
def purge(load_app: AppLoader, unconfirmed: str | None, unsubscribed: str | None,
          announcements: str | None, events: str | None, dry_run: bool) -> None:
    """Delete data past its retention time (run it daily from a timer)."""
    app = load_app()
    config = app.config
    ages = (_days(unconfirmed, config["PURGE_UNCONFIRMED_DAYS"]),
            _days(unsubscribed, config["PURGE_UNSUBSCRIBED_DAYS"]),
            _days(announcements, config["PURGE_ANNOUNCEMENTS_DAYS"]),
            _days(events, config["PURGE_EVENTS_DAYS"]))
    with session_factory(app)() as session:
        plan = plan_purge(session, get_registry(app), *ages)
        verb = "would delete" if dry_run else "deleted"
        if not dry_run:
            run_purge(session, plan)
    click.echo(f"{verb}: {len(plan.unconfirmed)} unconfirmed sign-ups (>{ages[0]}d), "
               f"{len(plan.unsubscribed)} unsubscribed sign-ups (>{ages[1]}d), "
               f"{len(plan.announcements)} announcements (>{ages[2]}d), "
               f"{len(plan.events)} events (>{ages[3]}d)")
