"""The sites file is parsed a batch of tables at a time (a small working set for 10,000
sites); whatever the layout, the result or the error is the whole-file parse's."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from landingpad.sites import sitesfile
from landingpad.sites.sitesfile import SitesFileError, parse_sites

P = Path("/etc/landingpad/sites.toml")


def outcome(parse, text):
    try:
        return parse(text, P)
    except SitesFileError as exc:
        return str(exc)


def plain(count):
    return "".join(f'[sites."s{i}.example"]\nLANDING_TITLE = "Site {i}"\n'
                   f'aliases = ["www.s{i}.example"]\n\n' for i in range(count))


def test_a_file_of_plain_tables_is_parsed_per_batch_with_the_same_result(monkeypatch):
    text = "# sites\n[defaults]\nLANDING_ACCENT = \"#ABC\"\n\n" + plain(450)
    assert sitesfile._parse_by_table(text, P) is not None  # 3 batches
    assert parse_sites(text, P) == sitesfile._parse_whole(text, P)
    assert len(parse_sites(text, P).hosts) == 900


@pytest.mark.parametrize("text", [
    plain(3) + '[sites."s1.example"]\nLANDING_TAGLINE = "again"\n',  # a table twice
    plain(250) + '[sites."s1.example"]\nLANDING_TAGLINE = "again"\n',  # ... in another batch
    '[sites]\n[sites."a.example"]\nLANDING_TITLE = "A"\n',
    '[sites]\n"a.example" = {LANDING_TITLE = "A"}\n[sites."b.example"]\n',
    'sites = {"a.example" = {}}\n[sites."b.example"]\n',
    '[sites."a.example"]\nLANDING_TAGLINE = """\n[sites."b.example"]\nLANDING_TITLE = "x"\n"""\n',
    '[sites."a.example"]\nLANDING_INTERESTS = [\n["x"],\n]\n',
    '[defaults]\nLANDING_LANG = "en"\n' + plain(2) + '[defaults]\nLANDING_LANG = "de"\n',
    '[[sites]]\nname = "a.example"\n',
    '[sites."a.example".extra]\nx = 1\n',
    '[sites.\'a.example\']\nLANDING_TITLE = "A"\n',
    '[sites."a.example"]\r\nLANDING_TITLE = "A"\r\n[sites."b.example"]\r\n',
    '[sites."a.example"]\nLANDING_TITLE = "A"\n[sites."A.example"]\n',  # same host
    '[sitez."a.example"]\n',
    'LANDING_TITLE = "top"\n[sites."a.example"]\n',
])
def test_any_other_layout_gets_the_whole_file_parse_result_or_error(text):
    assert outcome(parse_sites, text) == outcome(sitesfile._parse_whole, text)


PIECES = st.sampled_from([
    '[defaults]\n', '[sites."a.example"]\n', '[sites."b.example"]\n', '[sites.c]\n',
    '[sites]\n', '[sites."a.example".x]\n', 'LANDING_TITLE = "T"\n', 'LANDING_ACCENT = 5\n',
    'aliases = ["www.a.example"]\n', 'LANDING_TAGLINE = """\n', '"""\n', '# [sites."z"]\n',
    '  [sites."d.example"]  # indented\n', '[[sites]]\n', '"e.example" = {}\n', '\n',
    'LANDING_INTERESTS = [\n', '"x"]\n',
])


@settings(max_examples=600, deadline=None)
@given(st.lists(PIECES, max_size=12))
def test_random_layouts_agree_with_the_whole_file_parse(pieces):
    text = "".join(pieces)
    assert outcome(parse_sites, text) == outcome(sitesfile._parse_whole, text)
