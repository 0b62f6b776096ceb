"""send_announcement: the one way to send an announcement (CLI, admin, tests)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack

from flask import Flask

from landingpad.announce.recipients import materialise
from landingpad.announce.sender import Sender
from landingpad.announce.states import Outcome, counts
from landingpad.mail.outbox import get_outbox
from landingpad.mail.transports import Transport
from landingpad.sites import get_registry
from landingpad.storage import session_factory
from landingpad.storage.models import Announcement, RecipientState


def send_announcement(app: Flask, announcement_id: int, *,
                      transport: Transport | None = None,
                      rate: float | None = None, batch: int = 20, retry_delay: float = 60.0,
                      max_attempts: int = 5,
                      on_start: Callable[[int, int], None] | None = None,
                      on_progress: Callable[[str], None] | None = None) -> Counter[Outcome]:
    """Take the recipient list (the first time only), then send to every recipient not
    yet handled. Safe to stop at any point (kill -9 included) and call again: nobody gets
    it twice.

    ``on_start(added, to_send)`` is told how many recipients this call listed and how
    many rows are left to send; ``on_progress(state)`` the new state of each row handled.
    Raises LookupError when there is no such announcement.
    """
    with app.app_context(), session_factory(app)() as session:
        announcement = session.get(Announcement, announcement_id)
        if announcement is None:
            raise LookupError(f"no announcement {announcement_id}")
        added = materialise(session, announcement, get_registry(app))
        todo = counts(session, announcement_id)
    if on_start is not None:
        on_start(added, todo[RecipientState.PENDING] + todo[RecipientState.CLAIMED])
    with ExitStack() as stack:
        if transport is None:  # the outbox's own, for this batch: signed like every mail
            transport = stack.enter_context(get_outbox(app).batch())
        sender = Sender(app, announcement_id, transport, rate=rate, batch=batch,
                        retry_delay=retry_delay, max_attempts=max_attempts,
                        on_progress=on_progress)
        return sender.run()
