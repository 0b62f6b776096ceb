"""The sites file (TOML): read, check, and say exactly where it is wrong.

```toml
[defaults]
LANDING_ACCENT = "#2a6df4"
[sites."coffee.example"]
LANDING_TITLE = "Coffee Club"
aliases = ["www.coffee.example"]
```
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from landingpad.sites.host import InvalidHost, normalize_host
from landingpad.sites.site import FIELDS_BY_KEY, parse_value


class SitesFileError(ValueError):
    """The sites file can't be used; the message names the file, line and key."""


@dataclass(frozen=True)
class SitesConfig:
    defaults: dict[str, Any] = field(default_factory=dict)
    sites: dict[str, dict[str, Any]] = field(default_factory=dict)  # domain -> parsed values
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)  # domain -> aliases
    hosts: dict[str, str] = field(default_factory=dict)  # every host (domain or alias) -> domain
    tls: dict[str, tuple[str, str]] = field(default_factory=dict)  # domain -> (cert, key) paths


# Paths that go into nginx config: absolute, and no character nginx would read as syntax.
_CONFIG_PATH = re.compile(r"^/[A-Za-z0-9._/@+-]{1,500}$")
SITE_EXTRAS = ("aliases", "tls_certificate", "tls_certificate_key")


def _line_of(text: str, table: str | None, key: str) -> int | None:
    """Best-effort line number of ``key`` inside ``[table]`` (tomllib keeps no positions)."""
    current: str | None = None
    header = re.compile(r"^\s*\[\s*(.+?)\s*\]\s*(?:#.*)?$")
    key_re = re.compile(r"^\s*(?:\"%s\"|'%s'|%s)\s*=" % ((re.escape(key),) * 3))
    for number, line in enumerate(text.splitlines(), start=1):
        match = header.match(line)
        if match:
            current = re.sub(r"\s*\.\s*", ".", match.group(1))
            if table is not None and current == table and key == "":
                return number
            continue
        if current == table and key and key_re.match(line):
            return number
    return None


def _fail(path: Path, text: str, table: str | None, key: str, reason: str) -> SitesFileError:
    line = _line_of(text, table, key)
    where = f"{path}:{line}" if line else str(path)
    what = f"[{table}] {key}" if table else key
    return SitesFileError(f"{where}: {what}: {reason}")


def _parse_layer(path: Path, text: str, table: str, raw: dict[str, Any],
                 allowed_extra: tuple[str, ...] = ()) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for key, value in raw.items():
        if key in allowed_extra:
            continue
        if key not in FIELDS_BY_KEY:
            known = ", ".join(sorted(FIELDS_BY_KEY) + list(allowed_extra))
            raise _fail(path, text, table, key, f"unknown setting (known: {known})")
        try:
            parsed[key] = parse_value(key, value)
        except ValueError as exc:
            raise _fail(path, text, table, key, str(exc)) from None
    return parsed


def parse_sites(text: str, path: Path) -> SitesConfig:
    """Parse the text of a sites file; raise SitesFileError naming file, line and key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SitesFileError(f"{path}: not valid TOML: {exc}") from None

    for key in data:
        if key not in ("defaults", "sites"):
            raise _fail(path, text, None, key,
                        'unknown section (expected [defaults] and [sites."DOMAIN"])')
    defaults_raw = data.get("defaults", {})
    if not isinstance(defaults_raw, dict):
        raise _fail(path, text, None, "defaults", "must be a table")
    defaults = _parse_layer(path, text, "defaults", defaults_raw)
    if "LANDING_DOMAIN" in defaults:
        raise _fail(path, text, "defaults", "LANDING_DOMAIN", "can only be set per site")

    sites_raw = data.get("sites", {})
    if not isinstance(sites_raw, dict):
        raise _fail(path, text, None, "sites", "must be a table of sites")
    sites: dict[str, dict[str, Any]] = {}
    aliases: dict[str, tuple[str, ...]] = {}
    hosts: dict[str, str] = {}
    tls: dict[str, tuple[str, str]] = {}
    for name, raw in sites_raw.items():
        table = f'sites."{name}"'
        if not isinstance(raw, dict):
            raise _fail(path, text, "sites", name, "must be a table")
        try:
            domain = normalize_host(name)
        except InvalidHost as exc:
            raise _fail(path, text, table, "", f"not a valid domain name: {exc}") from None
        values = _parse_layer(path, text, table, raw, allowed_extra=SITE_EXTRAS)
        values.pop("LANDING_DOMAIN", None)  # the table's name is the domain
        names = raw.get("aliases", [])
        if not isinstance(names, list) or not all(isinstance(a, str) for a in names):
            raise _fail(path, text, table, "aliases", "must be a list of host names")
        normalised: list[str] = []
        for alias in names:
            try:
                normalised.append(normalize_host(alias))
            except InvalidHost as exc:
                raise _fail(path, text, table, "aliases", f"{alias!r}: {exc}") from None
        for host in (domain, *normalised):
            if host in hosts:
                raise _fail(path, text, table, "aliases" if host != domain else "",
                            f"{host} is already used by {hosts[host]}")
            hosts[host] = domain
        sites[domain] = values
        aliases[domain] = tuple(normalised)
        cert, key = raw.get("tls_certificate"), raw.get("tls_certificate_key")
        if (cert is None) != (key is None):
            raise _fail(path, text, table, "tls_certificate" if cert is None else
                        "tls_certificate_key", "set both tls_certificate and tls_certificate_key")
        if cert is not None:
            for name, value in (("tls_certificate", cert), ("tls_certificate_key", key)):
                if not isinstance(value, str) or not _CONFIG_PATH.match(value):
                    raise _fail(path, text, table, name,
                                "must be an absolute path of letters, digits and ._/@+-")
            tls[domain] = (cert, key)
    return SitesConfig(defaults=defaults, sites=sites, aliases=aliases, hosts=hosts, tls=tls)


def load_sites(path: Path) -> SitesConfig:
    """Read the sites file; a missing file is an empty configuration (nginx-only installs)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return SitesConfig()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SitesFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_sites(text, path)
