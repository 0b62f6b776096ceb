"""send_announcement: the one way to send an announcement (CLI, admin, tests)."""

from __future__ import annotations

import logging
import signal
import threading
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack

from flask import Flask

from landingpad.announce.policy import Pacer
from landingpad.announce.recipients import materialise
from landingpad.announce.sender import Crew, Sender
from landingpad.announce.states import Outcome, counts
from landingpad.mail.outbox import get_outbox
from landingpad.mail.transports import Transport
from landingpad.sites import get_registry
from landingpad.storage import session_factory
from landingpad.storage.models import Announcement, RecipientState

log = logging.getLogger(__name__)


def send_announcement(app: Flask, announcement_id: int, *,
                      transport: Transport | None = None, connections: int | None = None,
                      rate: float | None = None, batch: int = 20, retry_delay: float = 60.0,
                      max_attempts: int = 5,
                      on_start: Callable[[int, int], None] | None = None,
                      on_progress: Callable[[str], None] | None = None) -> Counter[Outcome]:
    """Take the recipient list (the first time only), then send to every recipient not
    yet handled. Safe to stop at any point (kill -9 included) and call again: nobody gets
    it twice.

    ``connections`` SMTP connections send side by side (default: the
    ANNOUNCE_CONNECTIONS setting), each a sender of its own on the shared queue, all
    held to one ``rate`` together. A given ``transport`` is one connection.
    ``on_start(added, to_send)`` is told how many recipients this call listed and how
    many rows are left to send; ``on_progress(state)`` the new state of each row handled
    (one call at a time). Raises LookupError when there is no such announcement.
    """
    if connections is None:
        connections = 1 if transport is not None else app.config["ANNOUNCE_CONNECTIONS"]
    if connections < 1 or (transport is not None and connections != 1):
        raise ValueError("connections must be 1 or more, and 1 with a given transport")
    with app.app_context(), session_factory(app)() as session:
        announcement = session.get(Announcement, announcement_id)
        if announcement is None:
            raise LookupError(f"no announcement {announcement_id}")
        added = materialise(session, announcement, get_registry(app))
        todo = counts(session, announcement_id)
    if on_start is not None:
        on_start(added, todo[RecipientState.PENDING] + todo[RecipientState.CLAIMED])
    progress = _one_at_a_time(on_progress) if on_progress and connections > 1 else on_progress
    with ExitStack() as stack:
        # Each connection the outbox's own, for this run: signed like every mail.
        transports = [transport] if transport is not None else [
            stack.enter_context(get_outbox(app).batch()) for _ in range(connections)]
        stop = threading.Event()
        pacer = Pacer(rate, sleep=stop.wait)  # a stop cuts a paced wait short
        crew = Crew() if len(transports) > 1 else None
        senders = [Sender(app, announcement_id, each, pacer=pacer, stop=stop, crew=crew,
                          batch=batch, retry_delay=retry_delay, max_attempts=max_attempts,
                          on_progress=progress) for each in transports]
        if len(senders) == 1:
            return senders[0].run()
        return _side_by_side(senders, stop)


def _side_by_side(senders: list[Sender], stop: threading.Event) -> Counter[Outcome]:
    """Run each sender on a thread of its own. The first to fail (or Ctrl-C here) stops
    the others cleanly: each ends the message it is handing over and gives back the rest
    of its claim. Then that error is raised.

    The threads are waited for on events, not Thread.join: a Ctrl-C that interrupts
    join() makes Python 3.11 take a running thread for stopped (bpo-45274's fix), and the
    process would end under it, its rows still claimed.
    """
    errors: list[BaseException] = []

    def run(sender: Sender, done: threading.Event) -> None:
        # Ctrl-C is this caller's to hear (its handler runs in the main thread only): a
        # SIGINT delivered to a sender's thread would cut its database or SMTP wait short.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            sender.run()
        except BaseException as exc:
            errors.append(exc)
            stop.set()
        finally:
            done.set()

    started: list[threading.Event] = []
    interrupted = True
    try:
        for number, sender in enumerate(senders, 1):
            done = threading.Event()
            threading.Thread(target=run, args=(sender, done), name=f"sender-{number}").start()
            started.append(done)
        for done in started:
            done.wait()
        interrupted = False
    finally:  # Ctrl-C (only this thread hears it), or all done
        stop.set()
        # Every sender ends its message before the connections are closed (the caller's
        # ExitStack): a second Ctrl-C doesn't cut that short.
        for done in started:
            while not done.is_set():
                try:
                    done.wait()
                except KeyboardInterrupt:
                    continue
        for error in errors[0 if interrupted else 1:]:  # the first is raised, if nothing is
            log.error("a sender of this announcement failed", exc_info=error)
    if errors:
        raise errors[0]
    return sum((sender.outcome for sender in senders), Counter())


def _one_at_a_time(callback: Callable[[str], None]) -> Callable[[str], None]:
    lock = threading.Lock()

    def call(state: str) -> None:
        with lock:
            callback(state)

    return call
