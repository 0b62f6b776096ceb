"""The one way a public request sends mail: after its response is complete.

How long a request takes must not say whether an address is known (a new
sign-up gets a confirmation mail, a known one doesn't; a privacy request for a
known address gets a link). So the view only hands over a function; deciding
whether to send (suppression list, daily caps), building, signing and the SMTP
conversation all run once the response has gone out (WSGI ``close()``, which
uWSGI calls after the last byte is written).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import traceback
from collections.abc import Callable
from email.message import EmailMessage
from functools import cache
from pathlib import Path

from flask import Flask, Response, after_this_request, current_app, has_request_context

from landingpad.mail.transports import DeliveryError, make_transport

log = logging.getLogger(__name__)

# Returns the message to send, or None when it decided not to send one.
Build = Callable[[], EmailMessage | None]


def send_after_response(build: Build, what: str = "mail",
                        due: Callable[[], bool] | None = None) -> None:
    """Run ``build`` and send what it returns once the current response is complete.

    ``build`` runs in an app context of its own (the request is over by then):
    it may use the database and render templates. Outside a request (CLI) it
    runs at once. ``what`` names the mail in log lines (never the address).
    ``due``, if given, is a cheap check run first, also after the response and
    without an app context: False and nothing is queued or built (the common
    sign-up, which needs no mail, then costs its worker nothing more).
    """
    app: Flask = current_app._get_current_object()
    if not has_request_context():
        if due is None or due():
            deliver(app, build, what)
        return

    later = _background.put if _under_uwsgi() else _run

    def close() -> None:
        if due is None or due():
            later((app, build, what))

    @after_this_request
    def _later(response: Response) -> Response:
        response.call_on_close(close)
        return response


@cache
def _under_uwsgi() -> bool:
    try:
        import uwsgi  # noqa: F401 - only importable inside a uWSGI worker
    except ImportError:
        return False
    return True


Job = tuple[Flask, Build, str]


def _run(job: Job) -> None:
    deliver(*job)


class _Background:
    """One thread per worker process that delivers queued mail, in order.

    Started on first use in each process (a thread does not survive uWSGI's fork).
    On a graceful worker exit (reload, max-requests) what is queued is still sent,
    for up to DRAIN_SECONDS.
    """

    DRAIN_SECONDS = 30.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = 0
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def put(self, job: Job) -> None:
        with self._lock:
            if self._pid != os.getpid():
                self._start()
        self._queue.put(job)

    def _start(self) -> None:
        self._pid = os.getpid()
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="landingpad-outbox",
                                        daemon=True)
        self._thread.start()
        try:
            import uwsgi

            previous = getattr(uwsgi, "atexit", None)

            def at_exit() -> None:
                self.drain()
                if previous:
                    previous()

            uwsgi.atexit = at_exit
        except ImportError:
            pass

    def _loop(self) -> None:
        while (job := self._queue.get()) is not None:
            _run(job)  # deliver() never raises

    def drain(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            self._queue.put(None)
            self._thread.join(self.DRAIN_SECONDS)


_background = _Background()


def deliver(app: Flask, build: Build, what: str = "mail") -> bool:
    """Build and send one mail now; True if the transport took it.

    Never raises: by now there is nobody to answer, so a failure is logged.
    """
    domain = "a site"
    with app.app_context():
        try:
            message = build()
            if message is None:
                return False
            domain = message["From"].addresses[0].domain
            transport = make_transport(app.config)
            try:
                transport.send(message)
            finally:
                transport.close()
        except DeliveryError as exc:
            # The reply may quote the address: log the kind and the reply code only.
            log.warning("%s for %s not sent (%s, reply %s)", what, domain, exc.kind,
                        exc.reply.split(" ", 1)[0] if exc.reply[:1].isdigit() else "none")
            return False
        except Exception as exc:
            # Not log.exception: the exception's text may quote the address. The
            # type and where it was raised are enough to find the fault.
            frames = traceback.extract_tb(exc.__traceback__)
            where = " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}"
                               for f in reversed(frames[-4:]))
            log.error("%s not sent: %s raised at %s", what, type(exc).__name__, where)
            return False
    return True
