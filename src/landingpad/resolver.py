"""The one way landingpad makes a DNS resolver: the system's, or LANDINGPAD_DNS_SERVER's.

Shared by the features that look names up themselves (tls's probe, dnscheck), so a
test or an install pointing them at one server points them all.
"""

from __future__ import annotations

import dns.resolver

LIFETIME = 5.0  # seconds one look-up may take in all, retries included


def resolver(dns_server: str, lifetime: float = LIFETIME) -> dns.resolver.Resolver:
    """The system's resolver, or the one ``dns_server`` names (ip:port or [v6]:port,
    as values.resolver accepts it)."""
    if not dns_server:
        res = dns.resolver.Resolver()
    else:
        host, _, port = dns_server.rpartition(":")
        res = dns.resolver.Resolver(configure=False)
        res.nameservers = [host.strip("[]")]
        res.port = int(port)
    res.lifetime = lifetime
    return res
