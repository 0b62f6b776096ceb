"""A compact SPF evaluator (RFC 7208 check_host) for one question: may this address send?

It evaluates ip4, ip6, a, mx, include, exists, redirect and all, with the limits
receivers apply (10 DNS-querying terms, 2 void look-ups, 10 MX names), and macros.
``ptr`` is counted but never matches: RFC 7208 says not to use it, and receivers
may skip it. ``exp=`` only words a rejection, so it is ignored.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum

from landingpad.dnscheck.lookup import DnsError, Lookup

MAX_LOOKUPS = 10
MAX_VOID = 2
MAX_MX = 10

_MECHANISM = re.compile(r"([+\-~?]?)(all|include|a|mx|ptr|ip4|ip6|exists)(?=$|[:/])(.*)",
                        re.IGNORECASE)
_MODIFIER = re.compile(r"([a-z][a-z0-9_.-]*)=(.*)", re.IGNORECASE)
_CIDR = re.compile(r"(?P<spec>:[^/]*)?(?:/(?P<v4>\d{1,2}))?(?://(?P<v6>\d{1,3}))?")
_MACRO = re.compile(r"%(?:\{(?P<letter>[slodiphcrtv])(?P<digits>\d*)(?P<rev>r?)"
                    r"(?P<delims>[.\-+,/_=]*)\}|(?P<escape>[%_-]))", re.IGNORECASE)
_QUALIFIERS = {"+": "pass", "": "pass", "-": "fail", "~": "softfail", "?": "neutral"}


class SpfResult(StrEnum):
    PASS = "pass"  # noqa: S105 (an SPF result, not a password)
    FAIL = "fail"
    SOFTFAIL = "softfail"
    NEUTRAL = "neutral"
    NONE = "none"
    PERMERROR = "permerror"
    TEMPERROR = "temperror"


@dataclass(frozen=True)
class SpfOutcome:
    result: SpfResult
    reason: str  # which term decided, or what is wrong
    lookups: int  # DNS-querying terms evaluated (the limit is MAX_LOOKUPS)


class _PermError(Exception):
    pass


def spf_records(lookup: Lookup, domain: str) -> list[str]:
    """The TXT records of ``domain`` that are SPF records (more than one is an error)."""
    return [t for t in lookup.txt(domain) if re.fullmatch(r"v=spf1(?: .*)?", t, re.I | re.S)]


def check_host(lookup: Lookup, ip: str, domain: str, helo: str = "") -> SpfOutcome:
    """The SPF result for mail from ``domain`` sent by ``ip`` (``helo``: the sending host)."""
    run = _Evaluation(lookup, ipaddress.ip_address(ip), domain, helo or domain)
    try:
        result, reason = run.check(domain, top=True)
    except _PermError as exc:
        result, reason = SpfResult.PERMERROR, str(exc)
    except DnsError as exc:
        result, reason = SpfResult.TEMPERROR, str(exc)
    return SpfOutcome(result, reason, run.lookups)


class _Evaluation:
    def __init__(self, lookup: Lookup, ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
                 sender_domain: str, helo: str) -> None:
        self.lookup = lookup
        self.ip = ip
        self.sender_domain = sender_domain
        self.helo = helo
        self.lookups = 0
        self.voids = 0

    def _count(self) -> None:
        self.lookups += 1
        if self.lookups > MAX_LOOKUPS:
            raise _PermError(f"more than {MAX_LOOKUPS} DNS look-ups (RFC 7208 4.6.4): "
                             "receivers stop and treat the record as broken")

    def _void(self, answer: list) -> list:
        if not answer:
            self.voids += 1
            if self.voids > MAX_VOID:
                raise _PermError(f"more than {MAX_VOID} look-ups found nothing (RFC 7208 4.6.4)")
        return answer

    def check(self, domain: str, top: bool = False) -> tuple[SpfResult, str]:
        records = spf_records(self.lookup, domain)
        if not records:
            return SpfResult.NONE, f"{domain} has no SPF record"
        if len(records) > 1:
            raise _PermError(f"{domain} has {len(records)} SPF records (one is allowed)")
        terms = records[0].split()[1:]
        redirect = None
        for term in terms:
            modifier = _MODIFIER.fullmatch(term)
            mechanism = _MECHANISM.fullmatch(term)
            if mechanism is None and modifier is not None:
                if modifier[1].lower() == "redirect":
                    if redirect is not None:
                        raise _PermError(f"{domain}: two redirect= modifiers")
                    redirect = modifier[2]
                continue  # exp= and unknown modifiers change no result
            if mechanism is None:
                raise _PermError(f"{domain}: unknown term {term!r}")
            qualifier, name, rest = mechanism[1], mechanism[2].lower(), mechanism[3]
            if self._matches(domain, name, rest, term):
                return SpfResult(_QUALIFIERS[qualifier]), f"{term} in {domain}'s record"
        if redirect is not None:
            self._count()
            target = self._expand(redirect, domain)
            result, reason = self.check(target)
            if result == SpfResult.NONE:
                raise _PermError(f"{domain}: redirect={target} has no SPF record")
            return result, reason
        return SpfResult.NEUTRAL, f"no term of {domain}'s record matched (neutral)"

    def _matches(self, domain: str, name: str, rest: str, term: str) -> bool:
        if name == "all":
            if rest:
                raise _PermError(f"{domain}: bad term {term!r}")
            return True
        if name in ("ip4", "ip6"):
            return self._ip_matches(name, rest, domain, term)
        parts = _CIDR.fullmatch(rest)
        if parts is None:
            raise _PermError(f"{domain}: bad term {term!r}")
        spec = parts["spec"]
        if name in ("include", "exists") and (not spec or len(spec) < 2 or
                                              parts["v4"] or parts["v6"]):
            raise _PermError(f"{domain}: {name} needs a domain: {term!r}")
        target = self._expand(spec[1:], domain) if spec else domain
        self._count()
        if name == "include":
            result, _ = self.check(target)
            if result in (SpfResult.NONE, SpfResult.PERMERROR):
                raise _PermError(f"{domain}: include:{target} has no usable SPF record")
            return result == SpfResult.PASS
        if name == "exists":
            return bool(self._void(self.lookup.addresses(target, "A")))
        if name == "ptr":
            return False  # counted, never matched: see the module's docstring
        v4 = int(parts["v4"]) if parts["v4"] else 32
        v6 = int(parts["v6"]) if parts["v6"] else 128
        if v4 > 32 or v6 > 128:
            raise _PermError(f"{domain}: bad prefix length in {term!r}")
        if name == "a":
            hosts = [target]
        else:
            exchanges = self._void(self.lookup.mx(target))
            if len(exchanges) > MAX_MX:
                raise _PermError(f"{domain}: mx:{target} has more than {MAX_MX} MX names")
            hosts = [host for _, host in exchanges if host]
        rdtype = "A" if self.ip.version == 4 else "AAAA"
        prefix = v4 if self.ip.version == 4 else v6
        for host in hosts:
            found = self.lookup.addresses(host, rdtype)
            if name == "a":
                self._void(found)
            for address in found:
                if self.ip in ipaddress.ip_network(f"{address}/{prefix}", strict=False):
                    return True
        return False

    def _ip_matches(self, name: str, rest: str, domain: str, term: str) -> bool:
        try:
            if not rest.startswith(":"):
                raise ValueError
            network = ipaddress.ip_network(rest[1:], strict=False)
        except ValueError:
            raise _PermError(f"{domain}: bad term {term!r}") from None
        bad_prefix = "/" in rest and not rest.rsplit("/", 1)[1].isdigit()
        if network.version != (4 if name == "ip4" else 6) or bad_prefix:
            raise _PermError(f"{domain}: bad term {term!r}")
        return self.ip.version == network.version and self.ip in network

    def _expand(self, spec: str, domain: str) -> str:
        """A domain-spec with its macros (RFC 7208 7) expanded, for a sender postmaster@."""
        def one(match: re.Match) -> str:
            if match["escape"]:
                return {"%": "%", "_": " ", "-": "%20"}[match["escape"]]
            letter = match["letter"].lower()
            if letter in "ic" and self.ip.version == 6:
                value = ".".join(self.ip.exploded.replace(":", ""))
            else:
                value = {"s": f"postmaster@{self.sender_domain}", "l": "postmaster",
                         "o": self.sender_domain, "d": domain, "i": str(self.ip),
                         "c": str(self.ip), "p": "unknown", "h": self.helo, "r": "unknown",
                         "t": "0", "v": "in-addr" if self.ip.version == 4 else "ip6"}[letter]
            parts = re.split("[" + re.escape(match["delims"] or ".") + "]", value)
            if match["rev"]:
                parts.reverse()
            if match["digits"]:
                keep = int(match["digits"])
                if keep == 0:
                    raise _PermError(f"{domain}: bad macro {match[0]!r}")
                parts = parts[-keep:]
            return ".".join(parts)

        if "%" in spec and not all(_MACRO.match(spec, i) for i in _percent_positions(spec)):
            raise _PermError(f"{domain}: bad macro in {spec!r}")
        expanded = _MACRO.sub(one, spec).rstrip(".")
        while len(expanded) > 253:  # RFC 7208 7.3: drop labels from the left
            expanded = expanded.partition(".")[2]
        if not expanded or any(not 0 < len(label) < 64 for label in expanded.split(".")):
            raise _PermError(f"{domain}: {spec!r} is not a domain name")
        return expanded.lower()


def _percent_positions(spec: str) -> list[int]:
    """Where each macro starts (a %% pair is one escape, not two macros)."""
    positions, i = [], 0
    while (i := spec.find("%", i)) != -1:
        positions.append(i)
        i += 2
    return positions
