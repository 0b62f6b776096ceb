from pathlib import Path

import pytest

from landingpad.sites.sitesfile import SitesFileError, load_sites, parse_sites

P = Path("/etc/landingpad/sites.toml")


def test_parses_defaults_sites_and_aliases():
    config = parse_sites("""
[defaults]
LANDING_ACCENT = "#ABC"
[sites."Coffee.Example"]
LANDING_TITLE = "Coffee"
LANDING_INTERESTS = ["Beans"]
aliases = ["www.coffee.example"]
""", P)
    assert config.defaults == {"LANDING_ACCENT": "#abc"}
    assert config.sites["coffee.example"]["LANDING_INTERESTS"] == ("Beans",)
    assert config.hosts == {"coffee.example": "coffee.example",
                            "www.coffee.example": "coffee.example"}


def test_missing_file_is_an_empty_configuration(tmp_path):
    assert load_sites(tmp_path / "none.toml").sites == {}


def test_invalid_toml_names_file_and_line():
    with pytest.raises(SitesFileError, match=r"sites\.toml: not valid TOML: .*line 3"):
        parse_sites('[sites."a.example"]\nLANDING_TITLE = "x"\nLANDING_EMAIL = \n', P)


@pytest.mark.parametrize(("text", "pattern"), [
    ('[sites."a.example"]\nLANDING_TITLE = "ok"\nLANDING_ACCENT = 12\n',
     r'sites\.toml:3: \[sites\."a\.example"\] LANDING_ACCENT: must be a string'),
    ('[sites."a.example"]\n\nLANDING_ACCENT = "red; }"\n',
     r'sites\.toml:3: \[sites\."a\.example"\] LANDING_ACCENT: must be a colour'),
    ('[defaults]\nLANDING_DOUBLE_OPTIN = "maybe"\n',
     r"sites\.toml:2: \[defaults\] LANDING_DOUBLE_OPTIN: must be true or false"),
    ('[sites."a.example"]\nLANDING_TITEL = "typo"\n',
     r"sites\.toml:2: .*LANDING_TITEL: unknown setting"),
    ('[sites."a.example"]\nLANDING_LOGO = "https://tracker.example/p.gif"\n',
     r"LANDING_LOGO: must be a path on the site itself"),
    ('[sites."a.example"]\nLANDING_TITLE = "two\\nlines"\n',
     r"LANDING_TITLE: must not contain control characters"),
    ('[sites."a.example"]\nLANDING_INTERESTS = ["x", "x"]\n', r"must not repeat"),
    ('[sites."a.example"]\nLANDING_EMAIL = "not an address"\n',
     r"LANDING_EMAIL: not a valid email address"),
    ('[sites."bad_name!"]\nLANDING_TITLE = "x"\n', r"sites\.toml:1: .*not a valid domain name"),
    ('[sites."a.example"]\naliases = ["b.example"]\n[sites."b.example"]\n',
     r"b\.example is already used by a\.example"),
    ('[sitez."a.example"]\n', r"unknown section"),
])
def test_wrong_values_name_file_line_and_key(text, pattern):
    with pytest.raises(SitesFileError, match=pattern):
        parse_sites(text, P)


def test_not_utf8_is_a_clear_error(tmp_path):
    path = tmp_path / "sites.toml"
    path.write_bytes(b'[sites."a.example"]\nLANDING_TITLE = "\xff"\n')
    with pytest.raises(SitesFileError, match="not UTF-8"):
        load_sites(path)
