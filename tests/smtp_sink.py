"""A real SMTP server on loopback (aiosmtpd) that records what it accepts, and misbehaves
on request: 4xx or 5xx replies, or a dropped connection right after DATA."""

from __future__ import annotations

import asyncio
import email
import re
import threading
import time
from collections import Counter
from email.message import Message

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from tests.servers import free_port


class SinkHandler:
    def __init__(self, pipelining: bool = False, parse: bool = True) -> None:
        self.pipelining = pipelining  # offer PIPELINING (RFC 2920), as Postfix does
        # parse=False keeps the raw bytes only (the bench: parsing each message cost the
        # sink about as much CPU as the sender's whole work for it).
        self.parse = parse
        self.lock = threading.Lock()
        self.messages: list[Message] = []
        self.raw: list[bytes] = []
        self.times: list[float] = []
        self.temporary: Counter = Counter()   # address -> how many 451s to give first
        self.permanent: set[str] = set()      # addresses answered 550
        self.refuse_rcpt: dict[str, str] = {}  # address -> its RCPT TO reply (4xx/5xx)
        self.busy = 0  # this many MAIL FROMs answered 421, then the server hangs up
        self.drop_after_data: set[str] = set()  # take the message, then hang up
        self.delay = 0.0  # seconds to wait before answering DATA (a slow server)
        self.envelopes: list[tuple[str, list[str]]] = []  # (MAIL FROM, RCPT TOs) taken
        self.peers: list[tuple[str, int]] = []  # the client's address: one per connection
        self.quits: list[tuple[str, int]] = []  # clients that said goodbye
        # More connections than this at once are greeted with 421 and closed, as
        # Postfix's smtpd_client_connection_count_limit does.
        self.max_connections: int | None = None
        self.open_connections = 0
        self.turned_away = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.busy > 0:  # Postfix's rate limits: "421", and the connection is closed
            self.busy -= 1
            asyncio.get_running_loop().call_soon(server.transport.close)
            return "421 4.7.0 Too much mail, try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

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
            if self.parse:
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
            if self.parse:
                return [str(m["Message-ID"]) for m in self.messages]
            return [_message_id(raw) for raw in self.raw]


def _message_id(raw: bytes) -> str:
    """A raw message's Message-ID header (what email's parser gives, for our messages)."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    found = re.search(rb"(?im)^message-id:[ \t]*(.*(?:\r\n[ \t].*)*)", head)
    return found.group(1).replace(b"\r\n", b"").strip().decode() if found else "None"


class _CountingSMTP(SMTP):
    """aiosmtpd's server, turning away connections over the handler's max_connections."""

    async def _handle_client(self) -> None:
        handler = self.event_handler
        with handler.lock:
            handler.open_connections += 1
            over = handler.max_connections is not None \
                and handler.open_connections > handler.max_connections
            handler.turned_away += over
        try:
            if over:
                await self.push("421 4.7.0 Too many connections from your host")
                self.transport.close()
                return
            await super()._handle_client()
        finally:
            with handler.lock:
                handler.open_connections -= 1


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _CountingSMTP(self.handler, **self.SMTP_kwargs)


class Sink:
    def __init__(self, smtputf8: bool = False, idle_timeout: float = 300.0,
                 pipelining: bool = False, parse: bool = True) -> None:
        self.handler = SinkHandler(pipelining, parse)
        self.port = free_port()
        # smtputf8: offer SMTPUTF8 (RFC 6531), as most big providers do; off by default.
        # idle_timeout: hang up on a client silent this long (as servers do; RFC 5321's
        # minimum is 5 minutes, aiosmtpd's default).
        self.controller = _Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                     enable_SMTPUTF8=smtputf8, timeout=idle_timeout)

    def __enter__(self) -> Sink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
