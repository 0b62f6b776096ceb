"""gzip in the rendered nginx config and in `landingpad serve`'s uWSGI options."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from landingpad.deploy import uwsgi
from landingpad.deploy.render import DeployOptions, render_all
from landingpad.sites.sitesfile import parse_sites
from landingpad.web.compress import accepts_gzip


@pytest.fixture
def files():
    config = parse_sites('[sites."coffee.example"]\nLANDING_TITLE = "Coffee"\n',
                         Path("sites.toml"))
    options = DeployOptions(deploy_dir="/srv/lp/deploy", data_dir="/srv/lp", listen="80",
                            processes=2, sites_file="/srv/lp/sites.toml",
                            admin_host="admin.example", admin_listen="127.0.0.1:8081")
    return render_all(options, config)


def block(text: str, opening: str) -> str:
    start = text.index(opening)
    return text[start:text.index("\n}", start)]


def test_static_files_leave_compressed_with_their_gz_twin(files):
    static = block(files["landingpad-app.conf"], "location ^~ /static/ {")
    assert "gzip_static on;" in static and "gzip on;" in static and "gzip_vary on;" in static
    assert "text/css" in static


def test_micro_cache_keeps_a_gzip_and_a_plain_copy_and_never_serves_a_head_to_a_get(files):
    landing = block(files["landingpad-app.conf"], "location = / {")
    key = re.search(r"uwsgi_cache_key (\S+);", landing).group(1)
    assert "$landingpad_gzip" in key and "$request_method" in key
    assert re.search(r"uwsgi_ignore_headers [^;]*\bVary\b", landing)  # the key varies instead


def test_nginx_decides_gzip_for_its_cache_key_as_the_app_does(files):
    """The map's regexes, run by Python's re (same syntax for these), against the app."""
    text = files["landingpad.conf"]
    mapping = block(text, "map $http_accept_encoding $landingpad_gzip {")
    rules = re.findall(r'^\s+"~\*([^"]+)" "([^"]*)";$', mapping, re.M)
    exact = {key.lower(): value for key, value in
             re.findall(r'^\s+"([^~"][^"]*|)" "([^"]*)";$', mapping, re.M)}
    assert rules and exact

    def nginx(header: str) -> bool:
        if header.lower() in exact:  # strings first, ignoring case, then the regexes
            return exact[header.lower()] == ":gzip"
        for pattern, value in rules:
            if re.search(pattern, header, re.I):
                return value == ":gzip"
        return False

    for header in ("gzip", "gzip, deflate, br, zstd", "br;q=1, gzip;q=0.5", "identity", "",
                   "gzip;q=0", "deflate, gzip;q=0.0", "x-gzip", "GZIP", "br", "gzip, deflate",
                   "GZIP, Deflate, BR", "gzip, deflate, br", "gzip, deflate, br, zstd, x"):
        assert nginx(header) == accepts_gzip(header), header


def test_the_admin_area_is_never_compressed(files):
    admin = block(files["landingpad.conf"], "server_name admin.example;")
    assert "gzip off;" in admin


def test_landingpad_serve_sends_the_gz_twins_of_static_files():
    args = uwsgi.http_args("127.0.0.1:8080", 2)
    assert "--static-gzip-all" in args
    assert f"/static={uwsgi.STATIC_DIR}" in args
