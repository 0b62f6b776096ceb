"""The shipped catalogues: complete, nothing fuzzy, the same placeholders as the source,
no markup, and in step with the strings the code and templates use."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from landingpad.sites import languages
from landingpad.sites.site import FIELDS_BY_KEY
from landingpad.web import i18n

ROOT = Path(__file__).resolve().parents[3]
FOLDER = languages.TRANSLATIONS_DIR
PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\w+\}")


def catalogue(lang: str):
    with (FOLDER / lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle)


def template_ids() -> set[str]:
    with (FOLDER / "messages.pot").open("rb") as handle:
        return {m.id for m in read_po(handle) if m.id}


def problems(lang: str) -> list[str]:
    """Every reason the catalogue of ``lang`` can't ship."""
    found = []
    cat = catalogue(lang)
    ids = template_ids()
    if str(cat.locale) != lang:
        found.append(f"Language header is {cat.locale}")
    have = {m.id for m in cat if m.id}
    found += [f"missing: {msgid!r}" for msgid in sorted(ids - have)]
    found += [f"not in the template: {msgid!r}" for msgid in sorted(have - ids)]
    for message in cat:
        if not message.id:
            continue
        if message.fuzzy:
            found.append(f"fuzzy: {message.id!r}")
        if not message.string or not message.string.strip():
            found.append(f"empty: {message.id!r}")
            continue
        if sorted(PLACEHOLDER.findall(message.id)) != sorted(PLACEHOLDER.findall(message.string)):
            found.append(f"placeholders differ: {message.id!r} -> {message.string!r}")
        if re.search(r"[<>&]", message.string):
            found.append(f"markup characters: {message.string!r}")
    return found


@pytest.mark.parametrize("lang", languages.SHIPPED)
def test_each_shipped_catalogue_is_complete_and_keeps_the_placeholders(lang):
    assert problems(lang) == []


def test_the_check_fails_on_a_missing_an_empty_a_fuzzy_entry_and_changed_placeholders(
        tmp_path, monkeypatch):
    text = (FOLDER / "de" / "LC_MESSAGES" / "messages.po").read_text("utf-8")
    text = text.replace('msgstr "Ihre Rechte"', 'msgstr ""')
    text = text.replace('#, python-format\nmsgid "Back to %(title)s"\nmsgstr "Zurück zu %(title)s"',
                        '#, fuzzy, python-format\nmsgid "Back to %(title)s"\nmsgstr "Zurück"')
    text = text.replace('msgid "Why"\nmsgstr "Warum"\n', "")
    bad = tmp_path / "de" / "LC_MESSAGES"
    bad.mkdir(parents=True)
    (bad / "messages.po").write_text(text, "utf-8")
    (tmp_path / "messages.pot").write_bytes((FOLDER / "messages.pot").read_bytes())
    monkeypatch.setattr(sys.modules[__name__], "FOLDER", tmp_path)
    assert sorted(problems("de")) == sorted([
        "empty: 'Your rights'", "fuzzy: 'Back to %(title)s'", "missing: 'Why'",
        "placeholders differ: 'Back to %(title)s' -> 'Zurück'"])


def test_the_template_holds_exactly_the_strings_in_the_code(tmp_path):
    """pybabel extract (babel.cfg) gives the shipped messages.pot: nothing added or
    changed in code and templates is left out of the catalogues."""
    out = tmp_path / "messages.pot"
    CommandLineInterface().run(["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"),
                                "-k", "lazy_gettext", "-k", "N_", "--no-location",
                                "--sort-output", "-o", str(out), str(ROOT / "src" / "landingpad")])
    with out.open("rb") as handle:
        assert {m.id for m in read_po(handle) if m.id} == template_ids()


def test_short_names_and_built_in_defaults_are_catalogue_messages():
    ids = template_ids()
    for name, msgid in languages.SHORT_NAMES.items():
        assert name in languages.SITE_TEXTS or msgid in ids, name
    assert FIELDS_BY_KEY["LANDING_TAGLINE"].default == i18n.DEFAULT_TAGLINE in ids
    assert FIELDS_BY_KEY["LANDING_CONSENT"].default == i18n.DEFAULT_CONSENT in ids


def test_missing_mo_files_are_compiled_and_fresh_ones_left_alone(tmp_path):
    folder = tmp_path / "translations" / "de" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_bytes((FOLDER / "de" / "LC_MESSAGES" / "messages.po")
                                         .read_bytes())
    i18n.ensure_compiled(tmp_path / "translations")
    mo = folder / "messages.mo"
    assert mo.stat().st_size > 1000 and (mo.stat().st_mode & 0o777) == 0o644
    stamp = mo.stat().st_mtime_ns
    i18n.ensure_compiled(tmp_path / "translations")
    assert mo.stat().st_mtime_ns == stamp
