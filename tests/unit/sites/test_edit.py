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
