import os
import time

import pytest

from landingpad.sites.host import InvalidHost
from landingpad.sites.registry import SiteRegistry
from landingpad.sites.sitesfile import SitesFileError

SITES = """
[defaults]
LANDING_ACCENT = "#111111"
LANDING_TAGLINE = "from defaults"
[sites."coffee.example"]
LANDING_TITLE = "From file"
LANDING_ACCENT = "#222222"
aliases = ["www.coffee.example"]
"""


@pytest.fixture
def registry(tmp_path):
    path = tmp_path / "sites.toml"
    path.write_text(SITES)
    return SiteRegistry(path, check_seconds=0)


def env(host, **params):
    return {"HTTP_HOST": host, **params}


def test_precedence_environ_over_file_over_defaults_over_builtin(registry):
    site = registry.resolve(env("coffee.example", LANDING_TITLE="From nginx"))
    assert site.title == "From nginx"          # environ
    assert site.accent == "#222222"            # sites file
    assert site.tagline == "from defaults"     # [defaults]
    assert site.lang == "en"                   # built-in
    site = registry.resolve(env("coffee.example"))
    assert site.title == "From file"


def test_alias_resolves_to_the_canonical_domain(registry):
    site = registry.resolve(env("WWW.Coffee.Example.:8443"))
    assert site.domain == "coffee.example"
    assert site.title == "From file"


def test_unknown_host_is_none(registry):
    assert registry.resolve(env("nobody.example")) is None


def test_nginx_only_site_is_served_with_defaults(registry):
    site = registry.resolve(env("parked.example", LANDING_TITLE="Parked"))
    assert (site.domain, site.title, site.tagline) == ("parked.example", "Parked", "from defaults")


def test_visitor_headers_never_become_settings(registry):
    # A visitor's "Landing-Title: x" header arrives as HTTP_LANDING_TITLE.
    assert registry.resolve(env("nobody.example", HTTP_LANDING_TITLE="Evil")) is None
    site = registry.resolve(env("coffee.example", HTTP_LANDING_TITLE="Evil",
                                HTTP_LANDING_ACCENT="#000"))
    assert site.title == "From file" and site.accent == "#222222"


def test_empty_nginx_param_means_unset(registry):
    assert registry.resolve(env("coffee.example", LANDING_TITLE="")).title == "From file"
    assert registry.resolve(env("nobody.example", LANDING_TITLE="")) is None


def test_invalid_nginx_param_falls_back_and_is_logged(registry, caplog):
    site = registry.resolve(env("coffee.example", LANDING_ACCENT="red;}</style>"))
    assert site.accent == "#222222"
    assert "ignoring uwsgi_param LANDING_ACCENT" in caplog.text


def test_garbage_host_raises(registry):
    with pytest.raises(InvalidHost):
        registry.resolve(env("bad host"))


def test_sites_file_change_is_picked_up_without_restart(registry):
    assert registry.resolve(env("new.example")) is None
    text = registry.path.read_text() + '[sites."new.example"]\nLANDING_TITLE = "New"\n'
    registry.path.write_text(text)
    os.utime(registry.path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert registry.resolve(env("new.example")).title == "New"


def test_broken_reload_keeps_the_last_good_configuration(registry, caplog):
    registry.path.write_text('[sites."coffee.example"]\nLANDING_ACCENT = 5\n')
    os.utime(registry.path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert registry.resolve(env("coffee.example")).title == "From file"
    assert "sites file not reloaded" in caplog.text


def test_broken_file_at_start_is_an_error(tmp_path):
    path = tmp_path / "sites.toml"
    path.write_text("[sites\n")
    with pytest.raises(SitesFileError, match=str(path)):
        SiteRegistry(path)


def test_consent_version_follows_the_text(registry):
    a = registry.resolve(env("coffee.example"))
    b = registry.resolve(env("coffee.example", LANDING_CONSENT="Other words"))
    assert a.consent_version != b.consent_version and len(a.consent_version) == 16
