"""What crawlers, browsers and link previews get: description, Open Graph, robots.txt,
favicon, the social picture, and gzip on the cached landing page."""

from __future__ import annotations

import gzip
import html as htmllib
import io
import re

import pytest
from PIL import Image

HOST = {"Host": "coffee.test"}


def meta(page: str, attr: str, name: str) -> str | None:
    found = re.search(rf'<meta {attr}="{re.escape(name)}" content="([^"]*)">', page)
    return htmllib.unescape(found.group(1)) if found else None


@pytest.mark.parametrize("path", ["/", "/thanks", "/privacy"])
def test_public_pages_describe_themselves_for_search_and_link_previews(client, path):
    page = client.get(path, headers=HOST).get_data(as_text=True)
    description = meta(page, "name", "description")
    if path == "/privacy":
        assert description.startswith("What Coffee Club keeps about the people who sign up")
    else:  # the tagline (the built-in one: coffee.test sets none)
        assert description == ("Something new is on its way. Leave your email and we'll "
                               "tell you when it launches.")
    assert meta(page, "property", "og:description") == description
    assert meta(page, "property", "og:title") == re.search(r"<title>(.*)</title>",
                                                           page).group(1)
    assert meta(page, "property", "og:site_name") == "Coffee Club"
    # Absolute, on the canonical domain, in the scheme of emailed links.
    assert meta(page, "property", "og:url") == \
        "https://coffee.test" + ("/privacy" if path == "/privacy" else "/")
    assert meta(page, "property", "og:image") == "https://coffee.test/social.png"
    assert meta(page, "name", "twitter:card") == "summary_large_image"
    assert '<link rel="icon" href="/favicon.ico">' in page
    assert meta(page, "name", "robots") is None  # indexable by default


def test_an_alias_and_the_scheme_setting_give_the_canonical_absolute_urls(app, client):
    app.config["PUBLIC_SCHEME"] = "http"  # before the first request: pages are cached
    page = client.get("/", headers={"Host": "www.coffee.test"}).get_data(as_text=True)
    assert meta(page, "property", "og:url") == "http://coffee.test/"
    assert meta(page, "property", "og:image") == "http://coffee.test/social.png"


def test_a_site_with_a_logo_shares_it_and_uses_it_as_icon(client):
    env = {"LANDING_LOGO": "/assets/logo-1.png", "LANDING_TAGLINE": 'Beans & "brews" <soon>'}
    page = client.get("/", headers=HOST, environ_overrides=env).get_data(as_text=True)
    assert meta(page, "property", "og:image") == "https://coffee.test/assets/logo-1.png"
    assert meta(page, "name", "twitter:card") == "summary"
    assert '<link rel="icon" href="/assets/logo-1.png">' in page
    assert meta(page, "name", "description") == 'Beans & "brews" <soon>'  # escaped in the page
    assert 'content="Beans &amp; &#34;brews&#34; &lt;soon&gt;"' in page


def test_robots_txt_allows_every_path_by_default(client):
    response = client.get("/robots.txt", headers=HOST)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True) == "User-agent: *\nAllow: /\n"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert "Set-Cookie" not in response.headers


def test_a_site_that_asks_not_to_be_indexed_says_so_in_robots_txt_and_its_pages(client):
    hidden = {"LANDING_INDEX": "false"}  # as nginx passes it
    robots = client.get("/robots.txt", headers=HOST, environ_overrides=hidden)
    assert robots.get_data(as_text=True) == "User-agent: *\nDisallow: /\n"
    for path in ("/", "/privacy"):
        page = client.get(path, headers=HOST, environ_overrides=hidden).get_data(as_text=True)
        assert meta(page, "name", "robots") == "noindex", path
    # Another site is not affected.
    other = client.get("/robots.txt", headers={"Host": "bikes.test"})
    assert other.get_data(as_text=True) == "User-agent: *\nAllow: /\n"


def test_robots_txt_comes_from_the_sites_file_too(tmp_path, app_config):
    from landingpad import create_app

    sites = tmp_path / "hidden.toml"
    sites.write_text('[sites."quiet.test"]\nLANDING_INDEX = false\n')
    client = create_app({**app_config, "SITES": str(sites)}).test_client()
    assert client.get("/robots.txt", headers={"Host": "quiet.test"}).get_data(as_text=True) \
        == "User-agent: *\nDisallow: /\n"


def test_unknown_hosts_and_the_admin_host_get_none_of_it(app, client):
    app.config["ADMIN_HOST"] = "coffee.test"  # public routes are never served on it
    for host in ("nobody.test", "coffee.test"):
        for path in ("/robots.txt", "/favicon.ico", "/social.png"):
            assert client.get(path, headers={"Host": host}).status_code == 404, (host, path)


def test_favicon_is_an_icon_in_the_sites_accent_colour(client):
    response = client.get("/favicon.ico", headers=HOST, environ_overrides={
        "LANDING_ACCENT": "#8a4b24"})
    assert response.status_code == 200 and response.mimetype == "image/x-icon"
    assert response.headers["Cache-Control"] == "public, max-age=86400"
    icon = Image.open(io.BytesIO(response.data))
    assert icon.format == "ICO" and {(16, 16), (32, 32), (48, 48)} <= icon.info["sizes"]
    icon.size = (32, 32)
    centre = icon.convert("RGBA").getpixel((16, 16))
    assert centre == (0x8A, 0x4B, 0x24, 255)
    again = client.get("/favicon.ico", headers={**HOST, "If-None-Match": response.headers["ETag"]},
                       environ_overrides={"LANDING_ACCENT": "#8a4b24"})
    assert again.status_code == 304


def test_social_picture_is_a_1200x630_png_in_the_accent_colour(client):
    response = client.get("/social.png", headers=HOST)
    assert response.status_code == 200 and response.mimetype == "image/png"
    picture = Image.open(io.BytesIO(response.data))
    assert picture.format == "PNG" and picture.size == (1200, 630)
    assert picture.convert("RGB").getpixel((600, 330)) == (0x2A, 0x6D, 0xF4)  # the disc
    assert "Set-Cookie" not in response.headers


def test_cached_landing_page_is_served_gzip_compressed_to_clients_that_take_it(client, app):
    plain = client.get("/", headers=HOST)
    for _ in range(2):  # Flask's render, then the WSGI fast path from the page cache
        packed = client.get("/", headers={**HOST, "Accept-Encoding": "gzip, deflate, br"})
        assert packed.headers["Content-Encoding"] == "gzip"
        assert packed.headers["Vary"] == "Accept-Encoding"
        assert int(packed.headers["Content-Length"]) == len(packed.data) < len(plain.data) / 2
        page = gzip.decompress(packed.data).decode()
        token = re.search(r'name="token" value="([^"]+)"', page).group(1)
        assert app.extensions["landingpad.tokens"].check("coffee.test", token).name != "INVALID"
        plain_token = re.search(r'name="token" value="([^"]+)"', plain.get_data(as_text=True))
        assert page.replace(token, "") == plain.get_data(as_text=True).replace(
            plain_token.group(1), "")
        assert packed.headers["ETag"] == plain.headers["ETag"]
    assert "Content-Encoding" not in plain.headers and plain.headers["Vary"] == "Accept-Encoding"
    refused = client.get("/", headers={**HOST, "Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers
    head = client.head("/", headers={**HOST, "Accept-Encoding": "gzip"})
    assert head.data == b"" and head.headers["Content-Encoding"] == "gzip"


def test_other_public_pages_are_gzip_compressed_too(client):
    for path in ("/thanks", "/privacy"):
        response = client.get(path, headers={**HOST, "Accept-Encoding": "gzip"})
        assert response.headers["Content-Encoding"] == "gzip", path
        assert b"</html>" in gzip.decompress(response.data)
