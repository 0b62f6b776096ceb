"""``landingpad webhooks deliver|status|secret``"""

from __future__ import annotations

import signal

import click
from sqlalchemy import func, select

from landingpad.cli import AppLoader, pass_app
from landingpad.storage import session_factory
from landingpad.storage.models import Delivery, DeliveryState
from landingpad.webhooks.config import endpoints, signing_secret
from landingpad.webhooks.deliver import Deliverer, where
from landingpad.webhooks.queue import counts


@click.group()
def webhooks() -> None:
    """Signed webhooks of sign-up events (Standard Webhooks)."""


@webhooks.command("deliver")
@click.option("--once", is_flag=True, help="One pass: send what is due now, then stop.")
@pass_app
def deliver(load_app: AppLoader, once: bool) -> None:
    """Send events to the configured endpoints, retrying with back-off (run as a service)."""
    app = load_app()
    with app.app_context():
        if not endpoints(app):
            raise click.ClickException("no webhook endpoints: set LANDINGPAD_WEBHOOK_URLS or "
                                       "a site's webhooks = [...] in the sites file")
    deliverer = Deliverer(app)
    if once:
        tally = deliverer.run_once()
        click.echo(f"delivered {tally.delivered}, to retry {tally.retrying}, "
                   f"given up {tally.failed}")
        return
    signal.signal(signal.SIGTERM, lambda *_: deliverer.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: deliverer.stopping.set())
    deliverer.loop()


@webhooks.command("status")
@pass_app
def status(load_app: AppLoader) -> None:
    """Endpoints, deliveries per state, and the last error per endpoint host."""
    app = load_app()
    with app.app_context():
        targets = endpoints(app)
    click.echo("endpoints: " + (", ".join(sorted({where(u) for u in targets.all()})) or "none"))
    with session_factory(app)() as session:
        for name, count in counts(session).items():
            click.echo(f"  {name}: {count}")
        rows = session.execute(
            select(Delivery.endpoint, Delivery.state, Delivery.last_error,
                   func.max(Delivery.id))
            .where(Delivery.last_error.is_not(None),
                   Delivery.state.in_((DeliveryState.PENDING, DeliveryState.FAILED)))
            .group_by(Delivery.endpoint, Delivery.state, Delivery.last_error)
            .order_by(func.max(Delivery.id).desc()).limit(10)).all()
    for endpoint, state, error, _ in rows:
        click.echo(f"  {where(endpoint)}: {state}: {error}")


@webhooks.command("secret")
@pass_app
def secret(load_app: AppLoader) -> None:
    """Print the signing secret (whsec_...), for the receivers' configuration."""
    click.echo(signing_secret(load_app().config))
