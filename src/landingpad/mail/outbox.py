"""The one outbox: every mail the product sends is built, signed and sent here.

``Outbox`` (one per app, ``app.extensions``, made by ``mail.init_app``) owns the
DKIM signer and a transport that lives as long as the app in each process: one
SMTP connection reused from mail to mail, replaced when the server dropped it.
A batch (an announcement) gets a transport of its own from ``batch()``.

A public request sends mail only after its response is complete: how long a
request takes must not say whether an address is known (a new sign-up gets a
confirmation mail, a known one doesn't; a privacy request for a known address
gets a link). So the view only hands over a function (send_after_response);
deciding whether to send (suppression list, daily caps), building, signing and
the SMTP conversation all run once the response has gone out (WSGI ``close()``,
which uWSGI calls after the last byte is written).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from email.message import EmailMessage
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, after_this_request, current_app, has_request_context

from landingpad.mail.transports import (
    TRANSPORT_SETTINGS,
    DeliveryError,
    Transport,
    make_transport,
)
from landingpad.mail.verp import verp_sender

if TYPE_CHECKING:
    from landingpad.mail.dkim import Signer

log = logging.getLogger(__name__)

EXTENSION = "landingpad.outbox"

# Returns the message to send, or None when it decided not to send one.
Build = Callable[[], EmailMessage | None]


class Outbox:
    """Build -> sign -> send, for every mail. Signing happens here and only here, by
    dkim's one rule: the From domain's key when it has one, else unsigned.

    Thread-safe: the app's transport is used by one sender at a time (a uWSGI
    worker's background thread, a dev server's request threads, an admin's test
    copy). Settings are read at each mail from the app's live config, so a change
    to them (tests make them) gets a new transport.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._signer: Signer | None = None
        self._transport: Transport | None = None
        self._made_from: tuple = ()
        self._pid = 0

    @property
    def signer(self) -> Signer:
        from landingpad.mail.dkim import Signer  # dkimpy and cryptography: on first mail

        folder = Path(self.config["DATA_DIR"]) / "dkim"
        if self._signer is None or self._signer.folder != folder:
            self._signer = Signer(folder)
        return self._signer

    def sign(self, message: EmailMessage) -> bytes:
        """The bytes to send: signed with the From domain's key when it has one."""
        return self.signer(message)

    def send(self, message: EmailMessage) -> None:
        """Sign and send one message through the app's transport now; DeliveryError if not."""
        data = self.sign(message)
        # build_message makes exactly one From and one To; SMTP carries their addresses.
        # With a bounce domain the envelope sender is the recipient's VERP address.
        recipient = message["To"].addresses[0].addr_spec
        sender = verp_sender(self.config, message["From"].addresses[0].addr_spec,
                             email=recipient)
        with self._lock:
            self._app_transport().send_raw(sender, recipient, data, str(message["Message-ID"]))

    def deliver(self, build: Build, what: str = "mail") -> bool:
        """Build and send one mail now (in an app context); True if the transport took it.

        Never raises: by now there is nobody to answer, so a failure is logged, and
        never with the address (a server's reply or an exception's text may quote it).
        """
        domain = "a site"
        try:
            message = build()
            if message is None:
                return False
            domain = message["From"].addresses[0].domain
            self.send(message)
        except DeliveryError as exc:
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

    @contextmanager
    def batch(self) -> Iterator[Transport]:
        """A transport of its own for many mails in a row (an announcement), closed after.

        It signs with this outbox's signer (``transport.signer``), so a batch's mail
        is signed by the same rule as every other.
        """
        transport = make_transport(self.config, signer=self.signer)
        try:
            yield transport
        finally:
            transport.close()

    def close(self) -> None:
        """Say goodbye to the SMTP server (the next mail connects again)."""
        with self._lock:
            if self._transport is not None and self._pid == os.getpid():
                self._transport.close()
            self._transport = None

    def _app_transport(self) -> Transport:
        """The app's transport in this process, made on first use (with the lock held)."""
        made_from = tuple(self.config[name] for name in TRANSPORT_SETTINGS)
        if self._transport is not None and self._pid != os.getpid():
            # Forked (uWSGI): the connection is the parent's; sending QUIT would end it.
            self._transport = None
        if self._transport is not None and self._made_from != made_from:
            self._transport.close()
            self._transport = None
        if self._transport is None:
            self._transport = make_transport(self.config, signer=self.signer)
            self._made_from, self._pid = made_from, os.getpid()
        return self._transport


def init_app(app: Flask) -> None:
    """One outbox per app, reading the app's live config."""
    app.extensions[EXTENSION] = Outbox(app.config)


def get_outbox(app: Flask | None = None) -> Outbox:
    """The app's outbox (the admin app shares the public app's)."""
    return (app or current_app).extensions[EXTENSION]


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
        self._apps: dict[int, Flask] = {}  # whose outbox this thread used: closed at exit

    def put(self, job: Job) -> None:
        with self._lock:
            if self._pid != os.getpid():
                self._start()
        self._queue.put(job)

    def _start(self) -> None:
        self._pid = os.getpid()
        self._queue = queue.SimpleQueue()
        self._apps = {}
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
            self._apps.setdefault(id(job[0]), job[0])
            _run(job)  # deliver() never raises

    def drain(self) -> None:
        """Send what is queued, then say goodbye (QUIT) to the SMTP server."""
        if self._thread is not None and self._pid == os.getpid():
            self._queue.put(None)
            self._thread.join(self.DRAIN_SECONDS)
            if not self._thread.is_alive():
                for app in self._apps.values():
                    get_outbox(app).close()


_background = _Background()


def deliver(app: Flask, build: Build, what: str = "mail") -> bool:
    """Build and send one mail now through ``app``'s outbox; True if the transport took it.

    Never raises (see Outbox.deliver).
    """
    with app.app_context():
        return get_outbox(app).deliver(build, what)
