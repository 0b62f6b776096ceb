"""One webhook POST: resolved, checked, pinned to the checked address, bounded.

The host name is resolved here (through LANDINGPAD_DNS_SERVER when set) and every
address it gives must be public, unless LANDINGPAD_WEBHOOK_ALLOW_PRIVATE: the
connection then goes to the address that was checked, not to a second look-up a
hostile zone could answer differently (DNS rebinding). TLS is verified against the
name. No redirect is followed, and at most MAX_BODY bytes of the answer are read.

Errors say what went wrong in a few words, never the URL's path or query (a
receiver's token may be in them), nor anything of the payload.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

import dns.exception
import dns.resolver

from landingpad.values import refused_address

MAX_BODY = 4096
USER_AGENT = "landingpad-webhooks/1"


@dataclass(frozen=True)
class Outcome:
    status: int | None  # the HTTP status, None when there was no answer
    error: str | None = None  # why it failed, in a few words (None: delivered)

    @property
    def delivered(self) -> bool:
        return self.error is None


class Refused(Exception):
    """The endpoint may not be reached (its address, or its name doesn't resolve)."""


def resolve(host: str, port: int, dns_server: str = "", timeout: float = 5.0) -> list[str]:
    """The host's addresses: the system's resolver, or the one ``dns_server`` names."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    if not dns_server:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise Refused(f"{host} does not resolve ({exc.__class__.__name__})") from None
        return list(dict.fromkeys(info[4][0] for info in infos))
    server, _, server_port = dns_server.rpartition(":")
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [server.strip("[]")]
    res.port = int(server_port)
    res.lifetime = timeout
    found: list[str] = []
    for rdtype in ("A", "AAAA"):
        try:
            found.extend(r.to_text() for r in res.resolve(host, rdtype, search=False))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
            continue
        except dns.exception.DNSException as exc:
            raise Refused(f"{host}: DNS {exc.__class__.__name__}") from None
    if not found:
        raise Refused(f"{host} has no A or AAAA record")
    return found


def checked_addresses(host: str, port: int, *, allow_private: bool,
                      dns_server: str = "") -> list[str]:
    """The addresses to connect to; Refused if any is not public (and not allowed)."""
    found = resolve(host, port, dns_server)
    if not allow_private:
        for address in found:
            why = refused_address(ipaddress.ip_address(address))
            if why:
                raise Refused(f"{host} resolves to {why}")
    return found


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to one checked address, with the certificate verified for the host name."""

    def __init__(self, host: str, port: int, address: str, context: ssl.SSLContext,
                 timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._ssl_context = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._ssl_context.wrap_socket(sock, server_hostname=self.host)


def tls_context(ca_bundle: str = "") -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_bundle or None)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float,
         context: ssl.SSLContext, allow_private: bool = False,
         dns_server: str = "") -> Outcome:
    """POST ``body`` to ``url``: delivered on any 2xx answer."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        addresses = checked_addresses(host, port, allow_private=allow_private,
                                      dns_server=dns_server)
    except Refused as exc:
        return Outcome(None, str(exc))
    error = "no address"
    for address in addresses[:2]:  # not a hundred: a hostile zone must not hold us
        connection = _PinnedHTTPS(host, port, address, context, timeout)
        # The timeout bounds each read; this bounds the whole exchange (an endpoint
        # trickling a byte a second must not hold a deliverer's thread for good).
        cut = threading.Event()
        watchdog = threading.Timer(timeout * 3, _cut, (connection, cut))
        watchdog.daemon = True
        watchdog.start()
        try:
            connection.request("POST", target, body=body, headers={
                **headers, "Content-Type": "application/json", "User-Agent": USER_AGENT})
            response = connection.getresponse()
            response.read(MAX_BODY)  # a little, so the server sees us read; never all of it
            watchdog.cancel()
            if cut.is_set():  # what was read before the cut is no answer
                raise TimeoutError
            if 200 <= response.status < 300:
                return Outcome(response.status)
            return Outcome(response.status, f"HTTP {response.status}")
        except TimeoutError:
            error = "timed out"
        except ssl.SSLError as exc:
            error = f"TLS: {exc.reason or exc.__class__.__name__}"
        except (OSError, http.client.HTTPException) as exc:
            error = exc.strerror if isinstance(exc, OSError) and exc.strerror \
                else exc.__class__.__name__
        finally:
            watchdog.cancel()
            connection.close()
    return Outcome(None, error)


def _cut(connection: http.client.HTTPConnection, cut: threading.Event) -> None:
    """End an exchange that took too long: its blocked read returns at once."""
    cut.set()
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
