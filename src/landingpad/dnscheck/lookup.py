"""DNS look-ups for the checks, each made once per run, with errors kept apart from absence.

A name that doesn't exist or has no record of a type is an empty answer; a server that
fails (SERVFAIL, REFUSED) or doesn't answer in time is a DnsError, which a check
reports as such: "missing" would send the owner to fix a record that may be fine.
"""

from __future__ import annotations

import dns.exception
import dns.name
import dns.resolver

from landingpad.resolver import resolver
from landingpad.values import CONTROL

LIFETIME = 4.0  # seconds per look-up: a check of many domains must not hang for minutes
MAX_TIMEOUTS = 2  # then the server is taken as down for the run: the rest fail at once


class DnsError(Exception):
    """The DNS server failed or didn't answer; the message names the look-up."""


class Lookup:
    """Answers of one resolver, remembered for the run (SPF, DMARC and MX share them)."""

    def __init__(self, dns_server: str, lifetime: float | None = None) -> None:
        self.dns_server = dns_server
        self._resolver = resolver(dns_server, LIFETIME if lifetime is None else lifetime)
        self._answers: dict[tuple[str, str], list | DnsError] = {}
        self.queries = 0
        self.timeouts = 0

    def _query(self, name: str, rdtype: str) -> list:
        key = (name.lower().rstrip("."), rdtype)
        if key not in self._answers:
            self.queries += 1
            self._answers[key] = self._fetch(key[0], rdtype)
        answer = self._answers[key]
        if isinstance(answer, DnsError):
            raise answer
        return answer

    def _fetch(self, name: str, rdtype: str) -> list | DnsError:
        where = self.dns_server or "the system's resolver"
        if self.timeouts >= MAX_TIMEOUTS:
            return DnsError(f"{rdtype} {name}: not asked, {where} did not answer "
                            f"{self.timeouts} look-ups in time")
        try:
            return list(self._resolver.resolve(dns.name.from_text(name), rdtype, search=False))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.resolver.NoNameservers as exc:
            # dnspython names the rcode each server gave in its message.
            rcode = next((c for c in ("SERVFAIL", "REFUSED", "FORMERR", "NOTIMP")
                          if c in str(exc)), "no usable answer")
            return DnsError(f"{rdtype} {name}: {rcode} from {where}")
        except dns.exception.Timeout:
            self.timeouts += 1
            return DnsError(f"{rdtype} {name}: no answer from {where} in time")
        except (dns.exception.DNSException, ValueError) as exc:
            return DnsError(f"{rdtype} {name}: {type(exc).__name__} from {where}")

    def txt(self, name: str) -> list[str]:
        """Each TXT record's strings joined, as SPF, DKIM and DMARC read them. Control
        characters are shown escaped: a zone's text must not drive the owner's terminal."""
        return [CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}",
                            b"".join(r.strings).decode("utf-8", "replace"))
                for r in self._query(name, "TXT")]

    def addresses(self, name: str, rdtype: str) -> list[str]:
        """The A or AAAA records of ``name``."""
        return [r.address for r in self._query(name, rdtype)]

    def mx(self, name: str) -> list[tuple[int, str]]:
        """(preference, exchange without its final dot) of each MX record; "" is the root."""
        return sorted((r.preference, r.exchange.to_text().rstrip(".").lower())
                      for r in self._query(name, "MX"))
