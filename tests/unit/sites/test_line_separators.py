"""Settings never carry a line break of any kind: not \\n, and not the ones Unicode adds
(U+2028, U+2029, NEL U+0085) or the old ASCII separators that str.splitlines() splits on."""

import logging
from pathlib import Path

import pytest

from landingpad.sites import params
from landingpad.sites.registry import SiteRegistry
from landingpad.sites.site import parse_value
from landingpad.sites.sitesfile import SitesFileError, parse_sites

P = Path("/etc/landingpad/sites.toml")
# Every character str.splitlines() breaks on except \n and \r, and more control characters.
BREAKS = ["\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f",
          "\x00", "\x7f", "\x9b"]
TEXT_KEYS = ["LANDING_TITLE", "LANDING_TAGLINE", "LANDING_CONSENT"]


def toml_escape(char: str) -> str:
    return f"\\u{ord(char):04X}"


@pytest.mark.parametrize("char", BREAKS, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("key", TEXT_KEYS)
def test_a_separator_inside_a_setting_is_refused_with_file_line_and_key(key, char):
    text = (f'[sites."a.example"]\nLANDING_ACCENT = "#123456"\n'
            f'{key} = "Smith{toml_escape(char)}Jones"\n')
    with pytest.raises(SitesFileError) as refused:
        parse_sites(text, P)
    assert str(refused.value) == (
        f'{P}:3: [sites."a.example"] {key}: must not contain control characters or line '
        f"breaks (found U+{ord(char):04X})")


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\u0085"], ids=lambda c: f"U+{ord(c):04X}")
def test_defaults_list_items_and_addresses_are_checked_the_same_way(char):
    escaped = toml_escape(char)
    for text, where in [
        (f'[defaults]\nLANDING_TAGLINE = "a{escaped}b"\n', "2: [defaults] LANDING_TAGLINE"),
        (f'[sites."a.example"]\nLANDING_INTERESTS = ["Beans", "x{escaped}y"]\n',
         '2: [sites."a.example"] LANDING_INTERESTS'),
        (f'[sites."a.example"]\n\nLANDING_FROM = "news{escaped}@a.example"\n',
         '3: [sites."a.example"] LANDING_FROM'),
    ]:
        with pytest.raises(SitesFileError, match=r"must not contain control characters"
                           ) as refused:
            parse_sites(text, P)
        assert str(refused.value).startswith(f"{P}:{where}: ")


def test_ordinary_unicode_is_kept():
    config = parse_sites('[sites."a.example"]\nLANDING_TITLE = "Café «Zürich» — 東京 ✓"\n', P)
    assert config.sites["a.example"]["LANDING_TITLE"] == "Café «Zürich» — 東京 ✓"


@pytest.mark.parametrize("char", BREAKS, ids=lambda c: f"U+{ord(c):04X}")
def test_the_nginx_param_path_refuses_them_too(char, tmp_path, caplog):
    with pytest.raises(ValueError, match="line breaks"):
        parse_value("LANDING_TITLE", f"Smith{char}Jones")
    path = tmp_path / "sites.toml"
    path.write_text('[sites."a.example"]\nLANDING_TITLE = "From file"\n')
    registry = SiteRegistry(path, check_seconds=0)
    caplog.set_level(logging.WARNING)
    for environ in (
        # generated config: percent-encoded values
        {"LANDING_TITLE": params.encode(f"Smith{char}Jones"),
         params.ENCODING_KEY: params.ENCODING_URL},
        # a hand-written uwsgi_param (the seed's style), taken literally
        {"LANDING_TITLE": f"Smith{char}Jones"},
    ):
        site = registry.resolve({"HTTP_HOST": "a.example", **environ})
        assert site.title == "From file"  # the bad value is ignored, and said so
    assert sum("ignoring uwsgi_param LANDING_TITLE" in r.getMessage()
               for r in caplog.records) >= 1
