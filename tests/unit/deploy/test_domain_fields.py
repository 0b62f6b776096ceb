"""`domain add` options and `domain import` columns: every site field, from SITE_FIELDS, read
with the sites file's parsers; a bad value names the field and changes nothing."""

from pathlib import Path

import pytest

from landingpad.sites.site import SITE_FIELDS
from landingpad.sites.sitesfile import load_sites


@pytest.fixture
def rendered(runner, data_dir):
    result = runner("deploy", "render", "--listen", "127.0.0.1:1")
    assert result.exit_code == 0, result.output
    return data_dir / "deploy"


def snapshot(*dirs: Path) -> dict:
    return {p: p.read_bytes() for d in dirs for p in sorted(d.glob("*"))
            if p.is_file() and not p.name.startswith(".")}  # not the lock file


# (option, CSV column, key, a bad value, the reason given)
BAD = [
    ("--langs", "langs", "LANDING_LANGS", "tlh", "'tlh' is not a shipped language"),
    ("--text", "text", "LANDING_TEXT", '{"de": {"nonsense": "x"}}', "de.'nonsense': not a short"),
    ("--text", "text", "LANDING_TEXT", '{"de": {"thanks": "Danke %(price)s"}}',
     "de.thanks: uses a placeholder the text doesn't have: price"),
    ("--text", "text", "LANDING_TEXT", '{"de": {"button": ""}}', "de.button: must not be empty"),
    ("--text", "text", "LANDING_TEXT", "{not json", "must be a table of languages"),
    ("--title", "title", "LANDING_TITLE", "two\nlines", "must not contain control characters"),
    ("--title", "title", "LANDING_TITLE", "x" * 201, "must be at most 200 characters"),
    ("--tagline", "tagline", "LANDING_TAGLINE", "a\u2028b", "must not contain control"),
    ("--email", "email", "LANDING_EMAIL", "owner@", "not a valid email address"),
    ("--interests", "interests", "LANDING_INTERESTS", "Hats, " + "x" * 81,
     "must be at most 80 characters"),
    ("--logo", "logo", "LANDING_LOGO", "https://evil.example/x.png",
     "must be a path on the site itself"),
    ("--logo", "logo", "LANDING_LOGO", "/assets/../secret",
     "must be a plain path on the site itself"),
    ("--accent", "accent", "LANDING_ACCENT", "red; }", "must be a colour like #2a6df4"),
    ("--lang", "lang", "LANDING_LANG", "english!", "must be a language tag"),
    ("--from", "from", "LANDING_FROM", "news@@shop.example.com", "not a valid email address"),
    ("--consent", "consent", "LANDING_CONSENT", "y" * 501, "must be at most 500 characters"),
    ("--welcome", "welcome", "LANDING_WELCOME", "Hi\n\x07there", "must not contain control"),
    ("--welcome", "welcome", "LANDING_WELCOME", "w" * 20_001,
     "must be at most 20000 characters"),
    ("--welcome-subject", "welcome_subject", "LANDING_WELCOME_SUBJECT", "two\nlines",
     "must not contain control characters"),
]
# Flags are switches on the command line (--hsts/--no-hsts): only a CSV cell can be wrong.
BAD_FLAGS = [("double_optin", "LANDING_DOUBLE_OPTIN", "maybe"),
             ("index", "LANDING_INDEX", "sometimes"), ("hsts", "LANDING_HSTS", "2")]


def test_every_site_field_but_the_domain_is_an_option_and_a_column(runner):
    from landingpad.deploy.cli import IMPORT_COLUMNS

    keys = [f.key for f in SITE_FIELDS if f.key != "LANDING_DOMAIN"]
    assert len(BAD) + len(BAD_FLAGS) > len(keys)  # each kind of bad value, not only some
    assert {k for *_, k, _, _ in BAD} | {k for _, k, _ in BAD_FLAGS} == set(keys)
    usage = runner("domain", "add", "--help").output
    for key in keys:
        name = key.removeprefix("LANDING_").lower()
        assert name in IMPORT_COLUMNS
        assert f"--{name.replace('_', '-')}" in usage
    assert IMPORT_COLUMNS[0] == "domain" and IMPORT_COLUMNS[-1] == "aliases"


@pytest.mark.parametrize(("option", "column", "key", "raw", "reason"), BAD,
                         ids=[f"{b[0]}-{b[4][:20]}" for b in BAD])
def test_a_bad_option_names_the_field_and_changes_nothing(runner, rendered, data_dir, option,
                                                          column, key, raw, reason, backend):
    before = snapshot(data_dir, rendered)
    result = runner("domain", "add", "shop.test", "--title", "Shop", option, raw)
    assert result.exit_code == 2
    assert f"Invalid value for {option} ({key}): {reason}" in result.output
    assert snapshot(data_dir, rendered) == before


def write_csv(path: Path, column: str, raw: str) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["domain", column])
        out.writerow(["good.test", ""])  # a good line first: all or nothing
        out.writerow(["bad.test", raw])
    return path


@pytest.mark.parametrize(("column", "key", "raw", "reason"),
                         [b[1:] for b in BAD] + [(*f, "must be true or false") for f in BAD_FLAGS],
                         ids=[f"{b[1]}-{b[4][:20]}" for b in BAD] + [f[0] for f in BAD_FLAGS])
def test_a_bad_cell_names_line_column_and_field_and_changes_nothing(runner, rendered, data_dir,
                                                                    tmp_path, column, key, raw,
                                                                    reason, backend):
    path = write_csv(tmp_path / "sites.csv", column, raw)
    before = snapshot(data_dir, rendered)
    result = runner("domain", "import", str(path))
    assert result.exit_code == 2
    assert f"Invalid value for line 3, column {column} ({key}): {reason}" in result.output
    assert snapshot(data_dir, rendered) == before


def test_bad_names_in_either_path_change_nothing(runner, rendered, data_dir, tmp_path, backend):
    before = snapshot(data_dir, rendered)
    result = runner("domain", "add", "shop.test", "--alias", "bad alias")
    assert result.exit_code == 2 and "Invalid value for --alias" in result.output
    for name, aliases, message in [("bad host!", "", "line 3: 'bad host!' is not a valid host"),
                                   ("ok.test", "www.ok.test;bad alias", "line 3, column aliases"),
                                   ("good.test", "", "line 3: good.test appears twice")]:
        path = tmp_path / "sites.csv"
        path.write_text(f"domain,aliases\ngood.test,\n{name},{aliases}\n")
        result = runner("domain", "import", str(path))
        assert result.exit_code != 0 and message in result.output, result.output
    assert snapshot(data_dir, rendered) == before


def test_every_field_set_from_options(runner, rendered, data_dir, backend):
    result = runner("domain", "add", "shop.test", "--title", "Shop", "--tagline", "Soon.",
                    "--email", "owner@shop.example.com", "--interests", "Hats, Shoes",
                    "--logo", "/assets/logo.png", "--accent", "#ABCDEF", "--lang", "pt-BR",
                    "--double-optin", "--from", "news@shop.example.com",
                    "--consent", "Mail me about {title}.", "--no-index", "--hsts")
    assert result.exit_code == 0, result.output
    assert load_sites(data_dir / "sites.toml").sites["shop.test"] == {
        "LANDING_TITLE": "Shop", "LANDING_TAGLINE": "Soon.",
        "LANDING_EMAIL": "owner@shop.example.com",
        "LANDING_INTERESTS": ("Hats", "Shoes"), "LANDING_LOGO": "/assets/logo.png",
        "LANDING_ACCENT": "#abcdef", "LANDING_LANG": "pt-BR", "LANDING_DOUBLE_OPTIN": True,
        "LANDING_FROM": "news@shop.example.com", "LANDING_CONSENT": "Mail me about {title}.",
        "LANDING_INDEX": False, "LANDING_HSTS": True}
    assert '    shop.test "Shop";' in (rendered / "landingpad-maps.conf").read_text()


def test_every_field_set_from_columns(runner, rendered, data_dir, tmp_path, backend):
    path = tmp_path / "sites.csv"
    path.write_text(
        "domain,title,tagline,email,interests,logo,accent,lang,double_optin,from,consent,"
        "index,hsts,aliases\n"
        'shop.test,Shop,"Soon, really.",owner@shop.example.com,"Hats, red;Shoes",/assets/logo.png,'
        "#ABCDEF,pt-BR,yes,news@shop.example.com,Mail me about {title}.,no,true,www.shop.test\n"
        "plain.test,,,,,,,,,,,,,\n")
    result = runner("domain", "import", str(path))
    assert result.exit_code == 0, result.output
    config = load_sites(data_dir / "sites.toml")
    assert config.sites["shop.test"] == {
        "LANDING_TITLE": "Shop", "LANDING_TAGLINE": "Soon, really.",
        "LANDING_EMAIL": "owner@shop.example.com", "LANDING_INTERESTS": ("Hats, red", "Shoes"),
        "LANDING_LOGO": "/assets/logo.png", "LANDING_ACCENT": "#abcdef", "LANDING_LANG": "pt-BR",
        "LANDING_DOUBLE_OPTIN": True, "LANDING_FROM": "news@shop.example.com",
        "LANDING_CONSENT": "Mail me about {title}.", "LANDING_INDEX": False, "LANDING_HSTS": True}
    assert config.hosts["www.shop.test"] == "shop.test"
    assert config.sites["plain.test"] == {}  # empty cells: the defaults apply
