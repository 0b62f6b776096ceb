"""The checks of the install's sites, as the CLI, the admin and `announce send` want them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from landingpad.dnscheck.checks import (
    DomainReport,
    Plan,
    Settings,
    check_dkim,
    check_dmarc,
    plan,
    run,
)
from landingpad.dnscheck.lookup import Lookup
from landingpad.mail import dkim
from landingpad.sites import Site, SiteRegistry

CACHE_SECONDS = 300.0  # the admin page's reports: DNS changes slowly, pages reload often
BLOCKING = ("dkim", "dmarc")  # what `announce send` refuses to go without (see README)

CACHE_ENTRIES = 10_000
_cache: dict[tuple, tuple[float, float, DomainReport]] = {}
_cache_lock = threading.Lock()


def site_pairs(registry: SiteRegistry, names: Iterable[str] | None = None
               ) -> list[tuple[str, Site]]:
    """(sites-file name, Site) of every site, or of ``names`` (unknown ones left out)."""
    pairs = []
    for name in registry.domains() if names is None else names:
        site = registry.site_for_host(name)
        if site is not None:
            pairs.append((name, site))
    return pairs


def install_plan(registry: SiteRegistry) -> Plan:
    return plan(site_pairs(registry))


def checked_domains(registry: SiteRegistry) -> list[str]:
    """Every domain `dns check` checks: each site's domain and each From domain."""
    return list(install_plan(registry).roles)


def check_domains(config: Mapping[str, Any], registry: SiteRegistry,
                  domains: Iterable[str] | None = None,
                  lookup: Lookup | None = None) -> list[DomainReport]:
    """Fresh reports for ``domains`` (each a site's domain or a From domain), or all."""
    settings = Settings.from_config(config)
    return run(install_plan(registry), settings, domains, lookup)


def cached_reports(config: Mapping[str, Any], registry: SiteRegistry,
                   domains: Iterable[str] | None = None) -> list[tuple[DomainReport, float]]:
    """(report, time.time() it was made) of ``domains`` (default all), each at most
    CACHE_SECONDS old.

    Per process (a uWSGI worker keeps its own) and per domain: a page view asks DNS about
    a domain at most that often. A changed setting, role or site list is a new entry.
    """
    the_plan = install_plan(registry)
    settings = Settings.from_config(config)
    wanted = [d for d in (the_plan.roles if domains is None else domains) if d in the_plan.roles]
    now = time.monotonic()
    results: dict[str, tuple[DomainReport, float]] = {}
    missing = []
    with _cache_lock:
        for domain in wanted:
            key = (settings, domain, the_plan.roles[domain], tuple(the_plan.sites[domain]))
            hit = _cache.get(key)
            if hit is not None and hit[0] > now:
                results[domain] = (hit[2], hit[1])
            else:
                missing.append((domain, key))
    if missing:
        lookup = Lookup(settings.dns_server)
        made = run(the_plan, settings, [d for d, _ in missing], lookup)
        with _cache_lock:
            if len(_cache) > CACHE_ENTRIES:
                _cache.clear()  # crude, and enough: entries are cheap to make again
            for (domain, key), report in zip(missing, made, strict=True):
                _cache[key] = (now + CACHE_SECONDS, time.time(), report)
                results[domain] = (report, time.time())
    return [results[d] for d in wanted]


def send_blockers(config: Mapping[str, Any], registry: SiteRegistry, site_names: Iterable[str],
                  cached: bool = False) -> list[str]:
    """Why the sites' mail would be rejected: one sentence per failing DKIM or DMARC check
    of their From domains, naming the record; [] when it may go.

    ``cached``: from cached_reports (the admin's), else checked now (DKIM and DMARC only).
    """
    senders = list(dict.fromkeys(dkim.signing_domain(site.from_address)
                                 for _, site in site_pairs(registry, site_names)))
    if not cached:
        settings = Settings.from_config(config)
        lookup = Lookup(settings.dns_server)
        found = {domain: (check_dkim(lookup, settings.dkim_folder, domain),
                          check_dmarc(lookup, domain, required="none")) for domain in senders}
    else:
        found = {report.domain: report.checks
                 for report, _ in cached_reports(config, registry, senders)}
    reasons = []
    for domain in senders:
        for check in found[domain]:
            if check.name in BLOCKING and check.verdict.failed:
                reasons.append(f"{check.name.upper()} record {check.record}: {check.detail}"
                               + (f" Publish: {check.expected}" if check.expected else ""))
    return reasons
