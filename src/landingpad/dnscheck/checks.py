"""What each domain should publish for its mail to be accepted, and what it does publish.

Which domains, in which role (``plan``):

- a **sending** domain is the domain of some site's From address: its mail is signed
  with its DKIM key (mail.dkim), so it needs that key's record, an SPF record that
  lets the SMTP server send for the Return-Path domain, and a DMARC record; and the
  From, DKIM d= and Return-Path domains should align (DMARC, relaxed by default);
- a **no-mail** domain is a site's domain at which no site has its From or contact
  address: nothing sends or receives mail as it, so it should say so (null MX,
  ``v=spf1 -all``, DMARC ``p=reject``) or anyone may send mail in its name;
- an **owner-mail** domain is a site's domain with a site's contact address
  (LANDING_EMAIL) at it but no From: its owner's mail is none of landingpad's business,
  so nothing is judged.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from landingpad.dnscheck import dmarc
from landingpad.dnscheck.lookup import DnsError, Lookup
from landingpad.dnscheck.spf import MAX_LOOKUPS, SpfResult, check_host, spf_records
from landingpad.mail import dkim
from landingpad.sites import Site


class Verdict(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, with a weakness the owner should know of
    SKIP = "skip"  # not landingpad's to judge
    FAIL = "fail"  # mail is (or may be) rejected, or the domain can be spoofed
    ERROR = "error"  # the DNS server failed or didn't answer: nothing could be judged

    @property
    def failed(self) -> bool:
        return self in (Verdict.FAIL, Verdict.ERROR)


_ORDER = [Verdict.OK, Verdict.SKIP, Verdict.WARN, Verdict.ERROR, Verdict.FAIL]


class Role(StrEnum):
    SENDING = "sending"
    NO_MAIL = "no-mail"
    OWNER_MAIL = "owner-mail"


@dataclass(frozen=True)
class Check:
    name: str  # dkim, spf, dmarc, alignment, mx
    verdict: Verdict
    record: str  # the DNS name looked at
    detail: str  # one or two sentences for the owner
    published: tuple[str, ...] = ()  # what the name holds now (of the kind checked)
    expected: str = ""  # the zone-file line to publish, when one would fix it


@dataclass(frozen=True)
class DomainReport:
    domain: str
    role: Role
    sites: tuple[str, ...]  # the sites whose mail or pages make it matter
    checks: tuple[Check, ...]

    @property
    def verdict(self) -> Verdict:
        return max((c.verdict for c in self.checks), key=_ORDER.index, default=Verdict.OK)

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict
        data["checks"] = [{**asdict(c), "published": list(c.published)} for c in self.checks]
        data["sites"] = list(self.sites)
        return data


@dataclass(frozen=True)
class Settings:
    """The install settings the checks read (from the app's config or settings.load())."""

    dkim_folder: Path
    dns_server: str
    smtp_host: str
    bounce_domain: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        return cls(Path(config["DATA_DIR"]) / "dkim", config["DNS_SERVER"],
                   config["SMTP_HOST"], config.get("BOUNCE_DOMAIN", ""))


@dataclass
class Plan:
    """Each domain to check, its role and the sites it is checked for, in site order."""

    roles: dict[str, Role] = field(default_factory=dict)
    sites: dict[str, list[str]] = field(default_factory=dict)


def plan(sites: Iterable[tuple[str, Site]]) -> Plan:
    """The domains of ``sites`` ((sites-file name, Site) pairs) and the role of each."""
    sites = list(sites)
    senders = {name: dkim.signing_domain(site.from_address) for name, site in sites}
    contacts = {site.email.rpartition("@")[2].lower() for _, site in sites if site.email}
    result = Plan()
    for name, _site in sites:
        sender = senders[name]
        result.roles[sender] = Role.SENDING
        result.sites.setdefault(sender, []).append(name)
        if name != sender:
            result.sites.setdefault(name, []).append(name)
    for domain in result.sites:
        if domain not in result.roles:
            result.roles[domain] = Role.OWNER_MAIL if domain in contacts else Role.NO_MAIL
    return result


def run(plan: Plan, settings: Settings, domains: Iterable[str] | None = None,
        lookup: Lookup | None = None) -> list[DomainReport]:
    """A report for each domain of ``plan`` (or only ``domains``, which must be in it)."""
    lookup = lookup or Lookup(settings.dns_server)
    reports = []
    for domain in (plan.roles if domains is None else domains):
        role = plan.roles[domain]
        if role == Role.SENDING:
            checks = sending_checks(lookup, settings, domain)
        elif role == Role.NO_MAIL:
            checks = no_mail_checks(lookup, domain)
        else:
            checks = [Check("mail", Verdict.SKIP, domain,
                            f"A site's contact address is at {domain} and no site sends from "
                            "it: its mail is yours, not landingpad's, so nothing is judged.")]
        reports.append(DomainReport(domain, role, tuple(plan.sites[domain]), tuple(checks)))
    return reports


# -- a sending domain -------------------------------------------------------------------

def sending_checks(lookup: Lookup, settings: Settings, domain: str) -> list[Check]:
    envelope = settings.bounce_domain or domain
    found_dmarc: dmarc.Dmarc | None = None
    dmarc_check = check_dmarc(lookup, domain, required="none")
    if dmarc_check.verdict == Verdict.OK:
        found_dmarc = dmarc.find(lookup, domain)  # remembered: no second query
    has_key = dkim.key_path(settings.dkim_folder, domain).exists()
    return [
        check_dkim(lookup, settings.dkim_folder, domain),
        check_spf(lookup, settings.smtp_host, envelope),
        dmarc_check,
        check_alignment(domain, envelope, has_key, found_dmarc),
    ]


def _dkim_tags(text: str) -> dict[str, str]:
    tags = {}
    for part in text.split(";"):
        tag, _, value = part.partition("=")
        tags.setdefault(tag.strip().lower(), re.sub(r"\s+", "", value))
    return tags


_records: dict[tuple[str, bytes], str] = {}  # (domain, key file's bytes) -> its DKIM record


def expected_dkim(folder: Path, domain: str) -> str:
    """What `landingpad dkim show DOMAIN` prints, or "" without a key. Remembered per key:
    loading an RSA key checks it, a good part of a second on a busy machine."""
    path = dkim.key_path(folder, domain)
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        return ""
    if (domain, pem) not in _records:
        if len(_records) > 1000:
            _records.clear()
        _records[(domain, pem)] = dkim.txt_record(path, domain)
    return _records[(domain, pem)]


def check_dkim(lookup: Lookup, folder: Path, domain: str) -> Check:
    name = f"{dkim.SELECTOR}._domainkey.{domain}"
    expected = expected_dkim(folder, domain)
    try:
        published = tuple(lookup.txt(name))
    except DnsError as exc:
        return Check("dkim", Verdict.ERROR, name, f"DNS error: {exc}", (), expected)
    if not expected:
        return Check("dkim", Verdict.FAIL, name,
                     f"No DKIM key for {domain}: its mail goes out unsigned, which Gmail, Yahoo "
                     f"and Outlook reject in bulk. Run `landingpad dkim generate {domain}` and "
                     "publish the record it prints.", published)
    want = _dkim_tags(expected.split(" TXT ", 1)[1].replace('" "', "").strip('"'))["p"]
    if not published:
        return Check("dkim", Verdict.FAIL, name,
                     f"No DKIM record at {name}: receivers can't verify the signature.",
                     published, expected)
    if len(published) > 1:
        return Check("dkim", Verdict.FAIL, name,
                     f"{len(published)} TXT records at {name}: receivers may use either. "
                     "Keep only this one:", published, expected)
    tags = _dkim_tags(published[0])
    if tags.get("v", "DKIM1") != "DKIM1" or tags.get("k", "rsa").lower() != "rsa":
        return Check("dkim", Verdict.FAIL, name, "The record is not an RSA DKIM1 key record.",
                     published, expected)
    if not tags.get("p"):
        return Check("dkim", Verdict.FAIL, name, "The record revokes the key (empty p=).",
                     published, expected)
    if tags["p"] != want:
        return Check("dkim", Verdict.FAIL, name,
                     "The published key is not the one landingpad signs with (an older key?): "
                     "every signature fails. Publish the current one:", published, expected)
    return Check("dkim", Verdict.OK, name, "The published key is the one mail is signed with.",
                 published)


def smtp_addresses(lookup: Lookup, smtp_host: str) -> list[str]:
    """The addresses of the SMTP server (the host itself when it is an address)."""
    try:
        return [str(ipaddress.ip_address(smtp_host.strip("[]")))]
    except ValueError:
        pass
    if smtp_host.lower().rstrip(".") == "localhost":
        return ["127.0.0.1"]  # never asked of DNS (RFC 6761)
    return lookup.addresses(smtp_host, "A") + lookup.addresses(smtp_host, "AAAA")


def check_spf(lookup: Lookup, smtp_host: str, domain: str) -> Check:
    name = domain
    try:
        published = tuple(spf_records(lookup, domain))
        ips = smtp_addresses(lookup, smtp_host)
    except DnsError as exc:
        return Check("spf", Verdict.ERROR, name, f"DNS error: {exc}")
    if not ips:
        return Check("spf", Verdict.FAIL, name,
                     f"The SMTP server LANDINGPAD_SMTP_HOST={smtp_host} has no A or AAAA record: "
                     "SPF can't be checked against it.", published)
    if all(ipaddress.ip_address(ip).is_loopback for ip in ips):
        return Check("spf", Verdict.WARN, name,
                     f"The SMTP server ({smtp_host}) is on this machine: it relays the mail from "
                     f"an address landingpad can't see. Make sure {domain}'s SPF record lists "
                     "this machine's public addresses (or its relay's include:).", published)
    outcomes = {ip: check_host(lookup, ip, domain, smtp_host) for ip in ips}
    mechanisms = " ".join(f"ip{ipaddress.ip_address(ip).version}:{ip}" for ip in ips)
    if published:
        terms = published[0].split()[1:]
        suggestion = f'{domain}. IN TXT "v=spf1 {mechanisms} {" ".join(terms) or "-all"}"'
    else:
        suggestion = f'{domain}. IN TXT "v=spf1 {mechanisms} -all"'
    counts = f"{max(o.lookups for o in outcomes.values())} of {MAX_LOOKUPS} DNS look-ups"
    for ip, outcome in outcomes.items():
        if outcome.result == SpfResult.TEMPERROR:
            return Check("spf", Verdict.ERROR, name, f"DNS error: {outcome.reason}", published)
        if outcome.result == SpfResult.PERMERROR:
            return Check("spf", Verdict.FAIL, name,
                         f"The SPF record is broken: {outcome.reason}. Receivers treat it as an "
                         "error (DMARC then fails on SPF).", published)
        if outcome.result == SpfResult.NONE:
            return Check("spf", Verdict.FAIL, name,
                         f"{domain} has no SPF record: publish one that lets the SMTP server "
                         f"({smtp_host}) send for it:", published, suggestion)
        if outcome.result != SpfResult.PASS:
            return Check("spf", Verdict.FAIL, name,
                         f"SPF gives {outcome.result} for the SMTP server {smtp_host} ({ip}): "
                         f"{outcome.reason}. Add it to the record:", published, suggestion)
    return Check("spf", Verdict.OK, name,
                 f"SPF passes for the SMTP server {smtp_host} ("
                 + "; ".join(f"{ip}: {o.reason}" for ip, o in outcomes.items())
                 + f"); {counts}.", published)


def check_dmarc(lookup: Lookup, domain: str, required: str) -> Check:
    """DMARC at least ``required`` (none, or reject for a domain that sends nothing)."""
    name = f"_dmarc.{domain}"
    expected = f'{name}. IN TXT "v=DMARC1; p={required}"'
    try:
        published = tuple(t for t in lookup.txt(name) if dmarc.is_dmarc(t))
        found = dmarc.find(lookup, domain)
    except DnsError as exc:
        return Check("dmarc", Verdict.ERROR, name, f"DNS error: {exc}")
    except dmarc.MalformedDmarc as exc:
        return Check("dmarc", Verdict.FAIL, name,
                     f"The DMARC record is malformed ({exc}): receivers ignore it.",
                     published, expected)
    if found is None:
        return Check("dmarc", Verdict.FAIL, name,
                     f"No DMARC record at {name}"
                     + (" nor at the organisational domain's" if
                        dmarc.organisational_domain(domain) != domain else "") + ".",
                     published, expected)
    where = "" if found.at == name else f" (the one at {found.at} applies)"
    published = published or (found.record,)
    if dmarc.POLICIES.index(found.policy) < dmarc.POLICIES.index(required):
        return Check("dmarc", Verdict.FAIL, name,
                     f"The policy is {found.policy}{where}; a domain that sends no mail "
                     f"should say p={required}, so that mail forged in its name is rejected.",
                     published, expected)
    advice = (" Once DMARC reports show all your mail passing, move to p=quarantine."
              if found.policy == "none" else "")
    return Check("dmarc", Verdict.OK, name, f"Policy {found.policy}{where}.{advice}", published)


def check_alignment(domain: str, envelope: str, has_key: bool,
                    found: dmarc.Dmarc | None) -> Check:
    """From, DKIM d= and Return-Path: DMARC passes when DKIM or SPF passes *aligned*."""
    strict_spf = found is not None and found.aspf == "s"
    # landingpad signs with the From domain's own key (mail.dkim.signing_domain): d= is
    # the From domain exactly, aligned under strict and relaxed rules alike.
    dkim_ok = has_key
    spf_ok = dmarc.aligned(envelope, domain, strict=strict_spf)
    published = (f"From: {domain}", f"DKIM d={domain}" if has_key else "DKIM: unsigned (no key)",
                 f"Return-Path: {envelope}")
    mode = "strict (aspf=s)" if strict_spf else "relaxed"
    if dkim_ok and spf_ok:
        return Check("alignment", Verdict.OK, domain,
                     f"DKIM d= and the Return-Path ({envelope}) align with the From ({mode}).",
                     published)
    if dkim_ok:
        return Check("alignment", Verdict.WARN, domain,
                     f"The Return-Path domain {envelope} does not align with the From {domain} "
                     f"({mode}): DMARC passes on DKIM alone. Set LANDINGPAD_BOUNCE_DOMAIN to "
                     f"{domain} or a name under it for SPF to count too.", published)
    if spf_ok:
        return Check("alignment", Verdict.WARN, domain,
                     "Mail is not DKIM-signed: DMARC passes on SPF alone, which forwarding "
                     f"breaks. Run `landingpad dkim generate {domain}`.", published)
    return Check("alignment", Verdict.FAIL, domain,
                 f"Neither a DKIM d= nor the Return-Path ({envelope}) aligns with the From "
                 f"{domain}: DMARC fails for every message.", published)


# -- a domain that sends no mail --------------------------------------------------------

def no_mail_checks(lookup: Lookup, domain: str) -> list[Check]:
    return [check_null_mx(lookup, domain), check_spf_none(lookup, domain),
            check_dmarc(lookup, domain, required="reject")]


def check_null_mx(lookup: Lookup, domain: str) -> Check:
    expected = f"{domain}. IN MX 0 ."
    try:
        records = lookup.mx(domain)
    except DnsError as exc:
        return Check("mx", Verdict.ERROR, domain, f"DNS error: {exc}")
    published = tuple(f"{pref} {host or '.'}" for pref, host in records)
    if records == [(0, "")]:
        return Check("mx", Verdict.OK, domain, "A null MX: the domain takes no mail.", published)
    what = "No MX record: senders fall back to its address" if not records else \
        "MX records name mail servers"
    return Check("mx", Verdict.FAIL, domain,
                 f"{what}, yet no site sends or receives mail at {domain}. Publish only a null "
                 "MX (RFC 7505):", published, expected)


def check_spf_none(lookup: Lookup, domain: str) -> Check:
    expected = f'{domain}. IN TXT "v=spf1 -all"'
    try:
        published = tuple(spf_records(lookup, domain))
    except DnsError as exc:
        return Check("spf", Verdict.ERROR, domain, f"DNS error: {exc}")
    if len(published) == 1 and [t.lower() for t in published[0].split()[1:]] == ["-all"]:
        return Check("spf", Verdict.OK, domain, "SPF says no server sends for it.", published)
    return Check("spf", Verdict.FAIL, domain,
                 f"No site sends mail from {domain}: its SPF record should allow no server.",
                 published, expected)
