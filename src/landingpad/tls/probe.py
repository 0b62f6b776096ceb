"""Never order blind: fetch a probe file from the host over HTTP before asking the CA.

The CA validates HTTP-01 by fetching ``http://HOST/.well-known/acme-challenge/TOKEN``
at every address the host's DNS gives (Let's Encrypt tries IPv6 first). An order
for a host that doesn't reach this server fails, and failed validations count
against the account until the CA pauses it. So the same fetch is made here first,
through the configured resolver, at each address, with the answer published the
way a real challenge is (the database: any node may be the one that answers).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import dns.exception
import dns.resolver

from landingpad.resolver import resolver

TIMEOUT = 10.0  # the whole probe of one address: DNS aside, connect to last byte
MAX_BYTES = 4096


class ProbeFailed(Exception):
    """The host does not reach this server; the message says how (for ``tls status``)."""


def addresses(host: str, dns_server: str = "") -> list[str]:
    """One IPv6 and one IPv4 address of ``host``, as the CA tries them (IPv6 first).

    Not every address: a hostile zone with a hundred that never answer must not hold
    the orderer for minutes. ProbeFailed if it has none.
    """
    res = resolver(dns_server)
    found: list[str] = []
    errors: list[str] = []
    for rdtype in ("AAAA", "A"):
        try:
            answer = res.resolve(host, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
            continue
        except dns.exception.DNSException as exc:
            errors.append(f"{rdtype}: {type(exc).__name__}")
            continue
        found.extend(sorted(r.to_text() for r in answer)[:1])
    if not found:
        why = f" ({', '.join(errors)})" if errors else ""
        raise ProbeFailed(f"DNS: {host} has no A or AAAA record{why}")
    return found


@dataclass(frozen=True)
class Probe:
    host: str
    port: int
    dns_server: str = ""

    def check(self, token: str, expected: str) -> None:
        """Fetch the token at each address; ProbeFailed unless each answers ``expected``."""
        for address in addresses(self.host, self.dns_server):
            self._fetch(address, token, expected)

    def _fetch(self, address: str, token: str, expected: str) -> None:
        """One HTTP/1.0 GET with a deadline for the whole exchange (a server dripping one
        byte at a time gets ``TIMEOUT`` seconds in all, not per byte)."""
        where = f"[{address}]:{self.port}" if ":" in address else f"{address}:{self.port}"
        deadline = time.monotonic() + TIMEOUT
        request = (f"GET /.well-known/acme-challenge/{token} HTTP/1.0\r\n"
                   f"Host: {self.host}\r\nUser-Agent: landingpad-probe\r\n"
                   "Connection: close\r\n\r\n").encode("ascii")
        data = b""
        try:
            with socket.create_connection((address, self.port), timeout=TIMEOUT) as sock:
                sock.sendall(request)
                while len(data) < MAX_BYTES:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError("no complete answer in time")
                    sock.settimeout(left)
                    chunk = sock.recv(MAX_BYTES - len(data))
                    if not chunk:
                        break
                    data += chunk
        except OSError as exc:
            raise ProbeFailed(f"http://{self.host}/ at {where} does not answer "
                              f"({type(exc).__name__})") from None
        head, _, body = data.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0].split(b" ")
        code = status[1].decode("ascii", "replace")[:3] if len(status) > 1 else "nothing"
        if not (status[0].startswith(b"HTTP/1.") and code == "200"
                and body.strip() == expected.encode("ascii")):
            # Only the status code: the answer is the domain's, and may hold anything.
            raise ProbeFailed(f"http://{self.host}/ at {where} is not this server "
                              f"(the probe got {code if code.isdigit() else 'no HTTP answer'})")
