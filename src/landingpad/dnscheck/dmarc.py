"""DMARC records (RFC 7489 6.3-6.6): found at _dmarc.DOMAIN, else at the organisational
domain's, and read tag by tag."""

from __future__ import annotations

import re
from dataclasses import dataclass

from publicsuffixlist import PublicSuffixList

from landingpad.dnscheck.lookup import Lookup

POLICIES = ("none", "quarantine", "reject")
_TAG = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_psl: PublicSuffixList | None = None


def organisational_domain(domain: str) -> str:
    """example.co.uk for mail.example.co.uk: the domain relaxed alignment compares."""
    global _psl
    if _psl is None:
        _psl = PublicSuffixList()
    return _psl.privatesuffix(domain) or domain


def aligned(a: str, b: str, strict: bool = False) -> bool:
    return a == b if strict else organisational_domain(a) == organisational_domain(b)


class MalformedDmarc(ValueError):
    """A record that starts as DMARC but that receivers would not apply."""


@dataclass(frozen=True)
class Dmarc:
    record: str  # as published
    at: str  # the name it was found at
    policy: str  # the one that applies to the domain asked about
    adkim: str  # "r" or "s"
    aspf: str
    tags: dict[str, str]


def is_dmarc(text: str) -> bool:
    """Whether a TXT record is meant as DMARC (receivers discard the others)."""
    return re.match(r"v\s*=\s*DMARC1\s*(?:;|$)", text.strip()) is not None


def parse(text: str) -> dict[str, str]:
    """The tags of a DMARC record; MalformedDmarc saying which part is wrong."""
    tags: dict[str, str] = {}
    parts = [p.strip() for p in text.strip().split(";")]
    if parts and parts[-1] == "":
        parts.pop()  # a final ; is allowed
    for part in parts:
        tag, eq, value = (s.strip() for s in part.partition("="))
        if not eq or not _TAG.fullmatch(tag):
            raise MalformedDmarc(f"{part!r} is not a tag=value pair")
        tag = tag.lower()
        if tag in tags:
            raise MalformedDmarc(f"the tag {tag} appears twice")
        tags[tag] = value
    if list(tags)[:1] != ["v"] or tags["v"] != "DMARC1":
        raise MalformedDmarc("it must start with v=DMARC1")
    if "p" not in tags:
        raise MalformedDmarc("it has no p= (policy) tag")
    for tag in ("p", "sp"):
        if tag in tags and tags[tag].lower() not in POLICIES:
            raise MalformedDmarc(f"{tag}={tags[tag]} is not one of {', '.join(POLICIES)}")
    for tag in ("adkim", "aspf"):
        if tag in tags and tags[tag].lower() not in ("r", "s"):
            raise MalformedDmarc(f"{tag}={tags[tag]} is not r or s")
    if "pct" in tags and not (tags["pct"].isdigit() and int(tags["pct"]) <= 100):
        raise MalformedDmarc(f"pct={tags['pct']} is not a whole number from 0 to 100")
    for tag in ("rua", "ruf"):
        for uri in filter(None, (u.strip() for u in tags.get(tag, "").split(","))):
            if not uri.lower().startswith("mailto:") or "@" not in uri:
                raise MalformedDmarc(f"{tag}: {uri!r} is not a mailto: address")
    return tags


def find(lookup: Lookup, domain: str) -> Dmarc | None:
    """The DMARC record that applies to ``domain``: its own, else its organisational
    domain's (whose sp= then applies). MalformedDmarc for a broken one, DnsError."""
    org = organisational_domain(domain)
    for name in dict.fromkeys((domain, org)):
        records = [t for t in lookup.txt(f"_dmarc.{name}") if is_dmarc(t)]
        if len(records) > 1:
            raise MalformedDmarc(f"_dmarc.{name} has {len(records)} DMARC records "
                                 "(receivers then apply none)")
        if records:
            tags = parse(records[0])
            policy = tags["p"] if name == domain else tags.get("sp", tags["p"])
            return Dmarc(records[0], f"_dmarc.{name}", policy.lower(),
                         tags.get("adkim", "r").lower(), tags.get("aspf", "r").lower(), tags)
    return None
