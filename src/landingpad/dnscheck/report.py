"""The checks of the install's sites, as the CLI, the admin and `announce send` want them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from landingpad.dnscheck.checks import DomainReport, Plan, Settings, plan, run
from landingpad.dnscheck.lookup import Lookup
from landingpad.mail import dkim
from landingpad.sites import Site, SiteRegistry

CACHE_SECONDS = 300.0  # the admin page's reports: DNS changes slowly, pages reload often
BLOCKING = ("dkim", "dmarc")  # what `announce send` refuses to go without (see README)

_cache: dict[tuple, tuple[float, float, list[DomainReport]]] = {}
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


def check_domains(config: Mapping[str, Any], registry: SiteRegistry,
                  domains: Iterable[str] | None = None,
                  lookup: Lookup | None = None) -> list[DomainReport]:
    """Fresh reports for ``domains`` (each a site's domain or a From domain), or all."""
    settings = Settings.from_config(config)
    return run(install_plan(registry), settings, domains, lookup)


def cached_reports(config: Mapping[str, Any], registry: SiteRegistry
                   ) -> tuple[list[DomainReport], float]:
    """Every domain's report and the time.time() it was made, at most CACHE_SECONDS old.

    Per process (a uWSGI worker keeps its own): a page view asks DNS at most that often.
    """
    the_plan = install_plan(registry)
    settings = Settings.from_config(config)
    key = (settings, tuple((d, r, tuple(s)) for (d, r), s in
                           zip(the_plan.roles.items(), the_plan.sites.values(), strict=True)))
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[2], hit[1]
    reports = run(the_plan, settings)
    with _cache_lock:
        _cache.clear()  # one install, one entry: the newest
        _cache[key] = (now + CACHE_SECONDS, time.time(), reports)
    return reports, time.time()


def send_blockers(config: Mapping[str, Any], registry: SiteRegistry, site_names: Iterable[str],
                  reports: Iterable[DomainReport] | None = None) -> list[str]:
    """Why the sites' mail would be rejected: one sentence per failing DKIM or DMARC check
    of their From domains, naming the record; [] when it may go.

    ``reports``: ones already made (the admin's cached ones), else they are made now.
    """
    senders = list(dict.fromkeys(dkim.signing_domain(site.from_address)
                                 for _, site in site_pairs(registry, site_names)))
    if reports is None:
        reports = check_domains(config, registry, senders)
    by_domain = {r.domain: r for r in reports}
    reasons = []
    for domain in senders:
        report = by_domain.get(domain)
        for check in report.checks if report else ():
            if check.name in BLOCKING and check.verdict.failed:
                reasons.append(f"{check.name.upper()} record {check.record}: {check.detail}"
                               + (f" Publish: {check.expected}" if check.expected else ""))
    return reasons
