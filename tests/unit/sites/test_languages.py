"""Accept-Language negotiation, nginx's cache key for it, and the owner's texts."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from landingpad.sites import languages
from landingpad.sites.edit import add_site
from landingpad.sites.sitesfile import parse_sites

TEMPLATE = Path(languages.__file__).parent.parent / "deploy/templates/landingpad.conf.j2"


_PATTERN, _VALUE = re.search(r'map \$http_accept_language \$landingpad_lang \{\n'
                             r'    "" "";\n    "~(.*)" "(.*)";\n', TEMPLATE.read_text()).groups()
_REGEX = re.compile(_PATTERN.replace("(?<", "(?P<"))


def nginx_key(header: str | None) -> str:
    """What nginx's map makes of a header (the template's regex, in Python's dialect)."""
    if not header:
        return ""
    match = _REGEX.fullmatch(header)
    if match is None:
        return "r:" + header
    return re.sub(r"\$(\w+)", lambda m: match.group(m.group(1)) or "", _VALUE)


OFFERED = ("en", "de", "ja")
tags = st.sampled_from(["en", "de", "ja", "fr", "DE", "de-AT", "en-GB", "*", "x", ""])
qs = st.sampled_from(["", ";q=0", ";q=0.5", ";q=0.50", ";q=1", ";q=0.9", "; q=0.8", ";q=abc"])
headers = st.lists(st.tuples(tags, qs, st.sampled_from(["", " "])), max_size=8).map(
    lambda parts: ",".join(f"{sp}{t}{q}" for t, q, sp in parts))


@settings(max_examples=300, deadline=None)
@given(headers, headers)
def test_two_headers_nginx_files_under_one_key_get_one_language(a, b):
    if nginx_key(a) == nginx_key(b):
        assert languages.negotiate(a, OFFERED, "en") == languages.negotiate(b, OFFERED, "en")


def test_negotiation_follows_q_values_then_order_and_primary_subtags():
    negotiate = languages.negotiate
    assert negotiate("fr, de;q=0.8, en;q=0.9", OFFERED, "en") == "en"
    assert negotiate("de-CH, ja", OFFERED, "en") == "de"
    assert negotiate("ja;q=0.5, de;q=0.5", OFFERED, "en") == "ja"
    assert negotiate("de;q=0, fr", OFFERED, "en") == "en"
    assert negotiate("de", ("en",), "en") == "en"  # one language: nothing to choose
    assert languages.query_lang("a=1&lang=ja", OFFERED) == "ja"
    assert languages.query_lang("lang=fr", OFFERED) is None


def test_texts_written_by_domain_add_read_back_the_same(tmp_path):
    parsed = languages.texts({"de": {"button": "Sag Bescheid", "Why": "Wieso",
                                     "title": "Kaffeeklub"}})
    text = add_site("", "shop.test", {"LANDING_TEXT": parsed})
    assert '[sites."shop.test".LANDING_TEXT.de]\nbutton = "Sag Bescheid"' in text
    config = parse_sites(text, tmp_path / "sites.toml")
    assert config.sites["shop.test"]["LANDING_TEXT"] == parsed
    assert dict(parsed[0][1]) == {"Notify me": "Sag Bescheid", "Why": "Wieso",
                                  "title": "Kaffeeklub"}
