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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from landingpad.sites.host import InvalidHost, normalize_host
from landingpad.sites.site import FIELDS_BY_KEY, parse_value
from landingpad.values import webhook_urls


class SitesFileError(ValueError):
    """The sites file can't be used; the message names the file, line and key."""


class SiteValues(Mapping[str, Any]):
    """One site's parsed values: a read-only mapping, small enough for 10,000 sites.

    The keys are one tuple shared by every site that sets the same settings; the
    values are a tuple. A dict per site cost about twice as much.
    """

    __slots__ = ("_keys", "_values")
    _shapes: dict[tuple[str, ...], tuple[str, ...]] = {}

    def __init__(self, values: Mapping[str, Any]) -> None:
        keys = tuple(values)
        self._keys = self._shapes.setdefault(keys, keys)
        self._values = tuple(values.values())

    def __getitem__(self, key: str) -> Any:
        try:
            return self._values[self._keys.index(key)]
        except ValueError:
            raise KeyError(key) from None

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"SiteValues({dict(self)!r})"


@dataclass(frozen=True)
class SitesConfig:
    defaults: dict[str, Any] = field(default_factory=dict)
    sites: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # domain -> parsed values
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)  # domain -> aliases
    hosts: dict[str, str] = field(default_factory=dict)  # every host (domain or alias) -> domain
    tls: dict[str, tuple[str, str]] = field(default_factory=dict)  # domain -> (cert, key) paths
    webhooks: dict[str, tuple[str, ...]] = field(default_factory=dict)  # domain -> URLs


# Paths that go into nginx config: absolute, and no character nginx would read as syntax.
_CONFIG_PATH = re.compile(r"^/[A-Za-z0-9._/@+-]{1,500}$")
SITE_EXTRAS = ("aliases", "tls_certificate", "tls_certificate_key", "webhooks")


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
            # The field's own key string: 10,000 sites share one object per key.
            parsed[FIELDS_BY_KEY[key].key] = parse_value(key, value)
        except ValueError as exc:
            raise _fail(path, text, table, key, str(exc)) from None
    return parsed


def parse_sites(text: str, path: Path) -> SitesConfig:
    """Parse the text of a sites file; raise SitesFileError naming file, line and key.

    A well-formed file of plain tables is parsed one table at a time: tomllib's
    working memory for a whole 10,000-site file peaks near 20 MB, which the
    allocator keeps for the life of the process. Anything else, including every
    file with a mistake, is parsed whole, as before, so the result and each
    error message are exactly those of one tomllib.loads of the file.
    """
    try:
        config = _parse_by_table(text, path)
    except (tomllib.TOMLDecodeError, SitesFileError):
        config = None
    return config if config is not None else _parse_whole(text, path)


# A line whose first non-blank character is "[": a table header, or a line inside
# a multi-line value (a batch cut there fails to parse: the whole-file path).
_BRACKET_LINE = re.compile(r"^[ \t]*\[", re.MULTILINE)
# The headers the per-table path takes: [defaults] and [sites."name"] (or a bare name).
_PLAIN_HEADER = re.compile(
    r'[ \t]*\[[ \t]*(?:(defaults)|sites[ \t]*\.[ \t]*(?:"[^"\\]*"|[A-Za-z0-9_-]+))'
    r"[ \t]*\][ \t]*(?:#.*)?\r?")
_BATCH = 200  # tables per tomllib.loads call: small working memory, little overhead


def _parse_by_table(text: str, path: Path) -> SitesConfig | None:
    """The per-table parse; None when the file is not plain tables, each named once."""
    starts = [match.start() for match in _BRACKET_LINE.finditer(text)]
    if not starts or tomllib.loads(text[:starts[0]]):  # keys before the first header
        return None
    kinds = []  # per header: True for [defaults], False for a site's table
    for start in starts:
        header = _PLAIN_HEADER.fullmatch(text, start, _line_end(text, start))
        if header is None:
            return None
        kinds.append(header.group(1) is not None)
    if sum(kinds) > 1:
        return None
    builder = _Builder(path, text)
    defaults: dict[str, Any] = {}
    for first in range(0, len(starts), _BATCH):
        last = first + _BATCH
        data = tomllib.loads(text[starts[first]:starts[last] if last < len(starts) else None])
        sites = data.pop("sites", {})
        defaults = data.pop("defaults", defaults)
        # Every table of the batch, and nothing else: each header named one table.
        if data or not isinstance(sites, dict) or not isinstance(defaults, dict) \
                or len(sites) != kinds[first:last].count(False):
            return None
        for name, raw in sites.items():
            if not builder.add_site(name, raw):
                return None  # a site's table split over two batches: tomllib decides
    return builder.config(builder.parse_defaults(defaults))


def _line_end(text: str, start: int) -> int:
    end = text.find("\n", start)
    return len(text) if end < 0 else end


def _parse_whole(text: str, path: Path) -> SitesConfig:
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
    builder = _Builder(path, text)
    defaults = builder.parse_defaults(defaults_raw)
    sites_raw = data.get("sites", {})
    if not isinstance(sites_raw, dict):
        raise _fail(path, text, None, "sites", "must be a table of sites")
    for name, raw in sites_raw.items():
        builder.add_site(name, raw)
    return builder.config(defaults)


class _Builder:
    """Checks sites one by one into the tables of a SitesConfig."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.text = path, text
        self.sites: dict[str, Mapping[str, Any]] = {}
        self.aliases: dict[str, tuple[str, ...]] = {}
        self.hosts: dict[str, str] = {}
        self.tls: dict[str, tuple[str, str]] = {}
        self.webhooks: dict[str, tuple[str, ...]] = {}
        self.names: set[str] = set()

    def parse_defaults(self, raw: dict[str, Any]) -> dict[str, Any]:
        defaults = _parse_layer(self.path, self.text, "defaults", raw)
        if "LANDING_DOMAIN" in defaults:
            raise _fail(self.path, self.text, "defaults", "LANDING_DOMAIN",
                        "can only be set per site")
        return defaults

    def config(self, defaults: dict[str, Any]) -> SitesConfig:
        return SitesConfig(defaults=defaults, sites=self.sites, aliases=self.aliases,
                           hosts=self.hosts, tls=self.tls, webhooks=self.webhooks)

    def add_site(self, name: str, raw: Any) -> bool:
        """Check and add one [sites."name"] table; False if that name came before."""
        path, text, hosts = self.path, self.text, self.hosts
        if name in self.names:
            return False
        self.names.add(name)
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
        self.sites[domain] = SiteValues(values)
        self.aliases[domain] = tuple(normalised)
        cert, key = raw.get("tls_certificate"), raw.get("tls_certificate_key")
        if (cert is None) != (key is None):
            raise _fail(path, text, table, "tls_certificate" if cert is None else
                        "tls_certificate_key", "set both tls_certificate and tls_certificate_key")
        if cert is not None:
            for field_name, value in (("tls_certificate", cert), ("tls_certificate_key", key)):
                if not isinstance(value, str) or not _CONFIG_PATH.match(value):
                    raise _fail(path, text, table, field_name,
                                "must be an absolute path of letters, digits and ._/@+-")
            self.tls[domain] = (cert, key)
        if "webhooks" in raw:
            try:
                self.webhooks[domain] = webhook_urls(raw["webhooks"])
            except ValueError as exc:
                raise _fail(path, text, table, "webhooks", str(exc)) from None
        return True


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
