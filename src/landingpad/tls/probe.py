"""Never order blind: fetch a probe file from the host over HTTP before asking the CA.

The CA validates HTTP-01 by fetching ``http://HOST/.well-known/acme-challenge/TOKEN``
at every address the host's DNS gives (Let's Encrypt tries IPv6 first). An order
for a host that doesn't reach this server fails, and failed validations count
against the account until the CA pauses it. So the same fetch is made here first,
through the configured resolver, at each address, with the answer published the
way a real challenge is (the database: any node may be the one that answers).
"""

from __future__ import annotations

import http.client
from dataclasses import dataclass

import dns.exception
import dns.resolver

TIMEOUT = 5.0


class ProbeFailed(Exception):
    """The host does not reach this server; the message says how (for ``tls status``)."""


def resolver(dns_server: str) -> dns.resolver.Resolver:
    """The system's resolver, or the one LANDINGPAD_DNS_SERVER names (ip:port)."""
    if not dns_server:
        res = dns.resolver.Resolver()
    else:
        host, _, port = dns_server.rpartition(":")
        res = dns.resolver.Resolver(configure=False)
        res.nameservers = [host.strip("[]")]
        res.port = int(port)
    res.lifetime = TIMEOUT
    return res


def addresses(host: str, dns_server: str = "") -> list[str]:
    """Every A and AAAA address of ``host`` (ProbeFailed if it has none)."""
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
        found.extend(r.to_text() for r in answer)
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
        """Fetch the token at every address; ProbeFailed unless each answers ``expected``."""
        for address in addresses(self.host, self.dns_server):
            self._fetch(address, token, expected)

    def _fetch(self, address: str, token: str, expected: str) -> None:
        where = f"[{address}]" if ":" in address else address
        conn = http.client.HTTPConnection(address, self.port, timeout=TIMEOUT)
        try:
            conn.request("GET", f"/.well-known/acme-challenge/{token}",
                         headers={"Host": self.host, "User-Agent": "landingpad-probe"})
            response = conn.getresponse()
            body = response.read(4096)
        except (OSError, http.client.HTTPException) as exc:
            raise ProbeFailed(f"http://{self.host}/ at {where}:{self.port} does not answer "
                              f"({type(exc).__name__}: {exc})") from None
        finally:
            conn.close()
        if response.status != 200 or body.decode("ascii", "replace").strip() != expected:
            raise ProbeFailed(f"http://{self.host}/ at {where}:{self.port} is not this "
                              f"server (probe answered {response.status})")

