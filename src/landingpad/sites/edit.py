"""Edit the sites file text, keeping the owner's comments and layout (tomlkit)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from landingpad.sites import languages


class EditError(ValueError):
    """The change can't be made (the domain exists, is missing, or the file is broken)."""


def _doc(text: str) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except TOMLKitError as exc:
        raise EditError(f"the sites file is not valid TOML: {exc}") from None


def _dumps(doc: tomlkit.TOMLDocument) -> str:
    # One newline at the end, so add then remove gives back the same bytes.
    return tomlkit.dumps(doc).rstrip("\n") + "\n"


def _table(values: Mapping[str, Any]) -> tomlkit.items.Table:
    table = tomlkit.table()
    for key, value in values.items():
        if key == "LANDING_TEXT":
            value = languages.texts_table(value)
        table[key] = list(value) if isinstance(value, tuple) else value
    return table


def _headers_of(domain: str) -> re.Pattern[str]:
    """A table header of ``domain`` or of one of its sub-tables, quoted either way."""
    return re.compile(r"^[ \t]*\[[ \t]*sites[ \t]*\.[ \t]*([\"'])" + re.escape(domain)
                      + r"\1[ \t]*[.\]]", re.MULTILINE)


def add_site(text: str, domain: str, values: Mapping[str, Any]) -> str:
    """Return the text with a new ``[sites."domain"]`` table (values: LANDING_* and extras)."""
    if _appendable(text):
        # The usual file (sites as [sites."..."] tables): the new table goes at the end, as
        # tomlkit would put it, without parsing the whole file (with 10,000 sites tomlkit
        # takes seconds; the caller parses the result anyway). A domain defined in some
        # other form makes that parse fail: nothing is written.
        if _headers_of(domain).search(text):
            raise EditError(f"{domain} is already in the sites file "
                            "(remove it first to replace it)")
        doc = tomlkit.document()
        doc["sites"] = tomlkit.table(is_super_table=True)
        doc["sites"][domain] = _table(values)
        return text + ("" if text.endswith("\n\n") else "\n") + _dumps(doc)
    doc = _doc(text)
    if "sites" not in doc:
        doc["sites"] = tomlkit.table(is_super_table=True)
    sites = doc["sites"]
    if domain in sites:
        raise EditError(f"{domain} is already in the sites file (remove it first to replace it)")
    sites[domain] = _table(values)
    return _dumps(doc)


_SITE_HEADER = re.compile(r"^\[sites\.[\"']", re.MULTILINE)


def _appendable(text: str) -> bool:
    """Ends with a line, and its sites are tables with headers ([sites."x"])."""
    return text.endswith("\n") and _SITE_HEADER.search(text) is not None


def remove_site(text: str, domain: str) -> str:
    doc = _doc(text)
    sites = doc.get("sites")
    if sites is None or domain not in sites:
        raise EditError(f"{domain} is not in the sites file")
    del sites[domain]
    return _dumps(doc)


def set_site_value(text: str, domain: str, key: str, value: Any) -> str:
    """Set one value in an existing ``[sites."domain"]`` table."""
    doc = _doc(text)
    sites = doc.get("sites")
    if sites is None or domain not in sites:
        raise EditError(f"{domain} is not in the sites file")
    sites[domain][key] = value
    return _dumps(doc)
