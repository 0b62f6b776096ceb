import html as htmllib
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from landingpad.signup.tokens import Verdict


def token_of(html: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


def test_landing_page_shows_the_site(client):
    response = client.get("/", headers={"Host": "coffee.test"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<title>Coffee Club</title>" in html
    assert '<html lang="en">' in html
    assert 'type="checkbox" value="Beans"' in html and 'value="Brewing gear"' in html
    assert 'href="/privacy"' in html and 'mailto:owner@coffee.example.com' in html
    assert "Set-Cookie" not in response.headers


def test_form_fields_have_labels(client):
    html = client.get("/", headers={"Host": "coffee.test"}).get_data(as_text=True)
    for field_id in re.findall(r'<input[^>]*\bid="([^"]+)"', html):
        assert f'for="{field_id}"' in html, field_id


def test_cached_fast_path_serves_the_same_page_with_a_fresh_token(client, app):
    first = client.get("/", headers={"Host": "coffee.test"})    # Flask renders, fills the cache
    second = client.get("/", headers={"Host": "coffee.test"})   # answered by the WSGI fast path
    assert app.extensions["landingpad.pages"].get(app.extensions["landingpad.sites"]
                                                  .site_for_host("coffee.test"), "en") is not None
    a, b = first.get_data(as_text=True), second.get_data(as_text=True)
    assert a.replace(token_of(a), "") == b.replace(token_of(b), "")
    drop = {"Content-Length"}
    assert {k: v for k, v in first.headers if k not in drop} == \
           {k: v for k, v in second.headers if k not in drop}
    tokens = app.extensions["landingpad.tokens"]
    assert tokens.check("coffee.test", token_of(b), now=tokens.min_fill + 1e10) \
        is Verdict.EXPIRED  # a real signed token with a time in it
    assert tokens.check("bikes.test", token_of(b)) is Verdict.INVALID  # bound to the site


def test_etag_revalidation_gives_304(client):
    first = client.get("/", headers={"Host": "coffee.test"})
    etag = first.headers["ETag"]
    again = client.get("/", headers={"Host": "coffee.test", "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    other = client.get("/", headers={"Host": "bikes.test", "If-None-Match": etag})
    assert other.status_code == 200


def test_head_has_headers_and_no_body(client):
    client.get("/", headers={"Host": "coffee.test"})
    response = client.head("/", headers={"Host": "coffee.test"})
    assert response.status_code == 200 and response.data == b""
    assert response.headers["Content-Type"].startswith("text/html")


def test_strict_security_headers_and_csp_allows_only_the_page_style(client):
    response = client.get("/", headers={"Host": "coffee.test"})
    csp = response.headers["Content-Security-Policy"]
    assert csp.startswith("default-src 'none'")
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert re.search(r"style-src 'self' 'sha256-[A-Za-z0-9+/=]+'", csp)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in response.headers


def test_hsts_only_over_tls_for_a_site_that_opted_in(client):
    opted_in = {"LANDING_ENCODING": "url", "LANDING_HSTS": "true"}  # as nginx passes it
    for _ in range(2):  # Flask path, then fast path
        response = client.get("/", base_url="https://coffee.test", environ_base=opted_in)
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        response = client.get("/", base_url="https://coffee.test")  # off by default
        assert "Strict-Transport-Security" not in response.headers


def test_unknown_host_is_a_clear_404(client):
    response = client.get("/", headers={"Host": "nobody.test"})
    assert response.status_code == 404
    assert "No site is configured for this domain." in response.get_data(as_text=True)


@pytest.mark.parametrize("host", ["bad_host", "a..b", "127.0.0.1", "x" * 300])
def test_garbage_host_is_400(client, host):
    assert client.get("/", headers={"Host": host}).status_code == 400


HOSTILE = '<script>alert(1)</script>"\'&'


def test_hostile_settings_are_escaped_everywhere(client):
    environ = {"LANDING_TITLE": HOSTILE, "LANDING_TAGLINE": HOSTILE,
               "LANDING_INTERESTS": f'["{HOSTILE.replace(chr(34), "")}"]',
               "LANDING_CONSENT": HOSTILE}
    for path in ("/", "/", "/thanks", "/privacy"):
        html = client.get(path, headers={"Host": "coffee.test"},
                          environ_base=environ).get_data(as_text=True)
        assert "<script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_style_injection_through_accent_is_refused(client):
    html = client.get("/", headers={"Host": "coffee.test"},
                      environ_base={"LANDING_ACCENT": "#fff}</style><script>x()</script>"}
                      ).get_data(as_text=True)
    assert "<script>" not in html and "--accent:#2a6df4" in html


def test_settings_change_means_a_new_page(client):
    a = client.get("/", headers={"Host": "coffee.test"}, environ_base={"LANDING_TITLE": "One"})
    b = client.get("/", headers={"Host": "coffee.test"}, environ_base={"LANDING_TITLE": "Two"})
    assert "One" in a.get_data(as_text=True) and "Two" in b.get_data(as_text=True)
    assert a.headers["ETag"] != b.headers["ETag"]


def test_readable_button_text_on_a_light_accent(client):
    html = client.get("/", headers={"Host": "coffee.test"},
                      environ_base={"LANDING_ACCENT": "#ffe066"}).get_data(as_text=True)
    assert "--on-accent:#000000" in html


def test_admin_host_never_serves_public_pages(app_config):
    from pathlib import Path

    from landingpad import create_app

    # Even when the admin host is also (wrongly) listed as a site.
    sites = Path(app_config["DATA_DIR"]) / "sites.toml"
    sites.write_text(sites.read_text() + '[sites."admin.test"]\n')
    from landingpad.web.headers import ADMIN_ENTRANCE, ENTRANCE

    client = create_app({**app_config, "ADMIN_HOST": "admin.test"}).test_client()
    door = {ENTRANCE: ADMIN_ENTRANCE}  # what nginx's admin server block adds
    for _ in range(2):  # the second would come from the page cache
        for host in ("admin.test", "ADMIN.test.", "admin.test:8080"):
            public = client.get("/", headers={"Host": host})  # a public listener
            assert public.status_code == 404 and b'name="token"' not in public.data
        response = client.get("/", headers={"Host": "admin.test"}, environ_base=door)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
        assert b'name="token"' not in response.data
    for environ in ({}, door):
        assert client.get("/privacy", headers={"Host": "admin.test"},
                          environ_base=environ).status_code == 404


def test_page_cache_off_renders_every_time(app_config):
    from landingpad import create_app

    app = create_app({**app_config, "PAGE_CACHE_SIZE": 0})
    client = app.test_client()
    for _ in range(2):
        assert client.get("/", headers={"Host": "coffee.test"}).status_code == 200
    site = app.extensions["landingpad.sites"].site_for_host("coffee.test")
    assert app.extensions["landingpad.pages"].get(site, "en") is None


def test_page_cache_is_bounded(app):
    from landingpad.signup.pages import PageCache

    cache = PageCache(2, 55)
    registry = app.extensions["landingpad.sites"]
    sites = [registry.resolve({"HTTP_HOST": f"s{i}.test", "LANDING_TITLE": f"S{i}"})
             for i in range(3)]
    with app.test_request_context(headers={"Host": "s0.test"}):
        from landingpad.signup.views import render_landing

        for site in sites:
            cache.get_or_build(site, "en", render_landing)
    assert cache.get(sites[0], "en") is None and cache.get(sites[2], "en") is not None


printable = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=60)


# Built to contain a character HTML cares about (a filter would reject most random text).
hostile_titles = st.tuples(printable, st.sampled_from("<>&\"'"), printable).map("".join)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=hostile_titles)
def test_any_title_is_escaped_in_the_page(client, title):
    body = client.get("/", headers={"Host": "coffee.test"},
                      environ_base={"LANDING_TITLE": title}).get_data(as_text=True)
    h1 = re.search(r"<h1>(.*?)</h1>", body, re.S).group(1)
    assert htmllib.unescape(h1) == title.strip()
    assert "<" not in h1 and ">" not in h1
