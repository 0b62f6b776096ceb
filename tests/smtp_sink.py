"""A real SMTP server on loopback (aiosmtpd) that records what it accepts, and misbehaves
on request: 4xx or 5xx replies, or a dropped connection right after DATA."""

from __future__ import annotations

import asyncio
import email
import threading
import time
from collections import Counter
from email.message import Message

from aiosmtpd.controller import Controller

from tests.servers import free_port


class SinkHandler:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[Message] = []
        self.raw: list[bytes] = []
        self.times: list[float] = []
        self.temporary: Counter = Counter()   # address -> how many 451s to give first
        self.permanent: set[str] = set()      # addresses answered 550
        self.drop_after_data: set[str] = set()  # take the message, then hang up
        self.delay = 0.0  # seconds to wait before answering DATA (a slow server)
        self.envelopes: list[tuple[str, list[str]]] = []  # (MAIL FROM, RCPT TOs) taken
        self.peers: list[tuple[str, int]] = []  # the client's address: one per connection
        self.quits: list[tuple[str, int]] = []  # clients that said goodbye

    async def handle_QUIT(self, server, session, envelope):
        with self.lock:
            self.quits.append(tuple(session.peer))
        return "221 Bye"

    async def handle_DATA(self, server, session, envelope):
        rcpt = envelope.rcpt_tos[0]
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            if self.temporary[rcpt] > 0:
                self.temporary[rcpt] -= 1
                return "451 4.3.0 Try again later"
            if rcpt in self.permanent:
                return "550 5.1.1 No such user here"
            self.messages.append(email.message_from_bytes(envelope.content))
            self.raw.append(envelope.original_content or envelope.content)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.peers.append(tuple(session.peer))
            self.times.append(time.monotonic())
            if rcpt in self.drop_after_data:
                self.drop_after_data.discard(rcpt)
                session.transport_closed = True
                server.transport.close()  # the message is taken; the reply never arrives
                return "250 OK"
        return "250 OK"

    def ids(self) -> list[str]:
        with self.lock:
            return [str(m["Message-ID"]) for m in self.messages]


class Sink:
    def __init__(self, smtputf8: bool = False, idle_timeout: float = 300.0) -> None:
        self.handler = SinkHandler()
        self.port = free_port()
        # smtputf8: offer SMTPUTF8 (RFC 6531), as most big providers do; off by default.
        # idle_timeout: hang up on a client silent this long (as servers do; RFC 5321's
        # minimum is 5 minutes, aiosmtpd's default).
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                     enable_SMTPUTF8=smtputf8, timeout=idle_timeout)

    def __enter__(self) -> Sink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
