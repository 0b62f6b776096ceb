import pytest

from landingpad.sites.edit import EditError, add_site, remove_site

TEXT = """# my domains
[defaults]
LANDING_ACCENT = "#123456"  # house colour

[sites."a.example"]
LANDING_TITLE = "A"
"""


def test_add_keeps_comments_and_remove_gives_back_the_same_bytes():
    added = add_site(TEXT, "b.example", {"LANDING_TITLE": "B", "LANDING_INTERESTS": ("x", "y"),
                                         "aliases": ["www.b.example"]})
    assert "# house colour" in added and '[sites."b.example"]' in added
    assert 'LANDING_INTERESTS = ["x", "y"]' in added
    assert remove_site(added, "b.example") == TEXT


def test_add_to_an_empty_file():
    assert '[sites."b.example"]' in add_site("", "b.example", {"LANDING_TITLE": "B"})


def test_duplicates_and_missing_domains_are_refused():
    with pytest.raises(EditError, match="already in the sites file"):
        add_site(TEXT, "a.example", {})
    with pytest.raises(EditError, match="not in the sites file"):
        remove_site(TEXT, "zzz.example")
    with pytest.raises(EditError, match="not valid TOML"):
        add_site("[broken", "b.example", {})


def whole_file_add(text: str, domain: str, values: dict) -> str:
    """What add_site wrote before it appended: tomlkit's parse of the whole file."""
    import tomlkit

    from landingpad.sites import edit

    doc = tomlkit.parse(text)
    doc["sites"][domain] = edit._table(values)
    return edit._dumps(doc)


@pytest.mark.parametrize("text", [
    TEXT,
    TEXT + "\n\n",
    "[sites.'a.example']\nLANDING_TITLE = 'A'  # single quotes\n",
    TEXT + '\n[sites."a.example".LANDING_TEXT.de]\nbutton = "Los"\n',
])
def test_a_site_is_appended_as_tomlkit_would_write_it(text):
    values = {"LANDING_TITLE": "B", "aliases": ("www.b.example",),
              "LANDING_TEXT": (("de", (("Sign up", "Eintragen"),)),)}
    assert add_site(text, "b.example", values) == whole_file_add(text, "b.example", values)


@pytest.mark.parametrize("header", [
    '[sites."b.example"]', "[sites.'b.example']", '[ sites . "b.example" ]',
    '[sites."b.example".LANDING_TEXT.de]',
])
def test_a_domain_already_there_in_any_header_form_is_refused(header):
    with pytest.raises(EditError, match="already in the sites file"):
        add_site(TEXT + f"\n{header}\nLANDING_TITLE = 'B'\n", "b.example", {})


def test_a_domain_written_as_dotted_keys_makes_the_result_invalid_not_a_second_site():
    import tomllib

    text = TEXT + '\n[sites]\n"b.example".LANDING_TITLE = "B"\n'
    with pytest.raises((EditError, tomllib.TOMLDecodeError)):
        tomllib.loads(add_site(text, "b.example", {"LANDING_TITLE": "C"}))
