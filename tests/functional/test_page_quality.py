"""The public pages as page-quality tools and browsers see them, through the real stack.

The demo's sites behind the rendered nginx -> uWSGI (started once for this file).
Lighthouse (npm, installed by ./run tests) must give 100 in accessibility, best
practices and SEO, mobile and desktop; its performance score is a speed figure,
reported by bench/lighthouse.py, never asserted here.
"""

from __future__ import annotations

import gzip

import pytest
from bench.lighthouse import LIGHTHOUSE, demo_stack, run_lighthouse

from landingpad.demo import DEMO_SITES
from landingpad.web.compress import STATIC_DIR
from tests.functional.test_admin_browser import ARTIFACTS, serious_axe_violations
from tests.servers import landingpad_serve, request

pytestmark = pytest.mark.functional
SITES = DEMO_SITES + '\n[sites."quiet.localhost"]\nLANDING_TITLE = "Quiet"\nLANDING_INDEX = false\n'
PAGES = ("/", "/thanks", "/privacy")
GZIP = {"Accept-Encoding": "gzip, deflate, br"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with demo_stack(tmp_path_factory.mktemp("page-quality"), SITES) as port:
        yield port


def test_lighthouse_gives_100_for_accessibility_best_practices_and_seo(demo):
    assert LIGHTHOUSE.exists(), f"{LIGHTHOUSE} missing: ./run tests installs it from npm"
    results = run_lighthouse([f"http://coffee.localhost:{demo}{path}" for path in PAGES],
                             categories=("accessibility", "best-practices", "seo"))
    assert len(results) == len(PAGES) * 2  # mobile and desktop
    for r in results:
        assert r["error"] is None, r
        assert r["scores"] == {"accessibility": 100, "best-practices": 100, "seo": 100}, \
            (r["preset"], r["url"], r["failing"])


def test_pages_go_out_gzip_compressed_through_nginx_and_its_micro_cache(demo):
    plain_status, plain_headers, plain = request(demo, "GET", "/", "coffee.localhost")
    assert plain_status == 200 and "content-encoding" not in plain_headers
    # From the app (MISS, or EXPIRED when an earlier test cached it more than the
    # micro-cache's second ago), then from the cache: a busy machine may let a second
    # pass between two requests, so a HIT is asked for within a few tries.
    seen = []
    for _ in range(6):
        status, headers, body = request(demo, "GET", "/", "coffee.localhost", headers=GZIP)
        assert status == 200 and headers["content-encoding"] == "gzip"
        seen.append(headers["x-cache-status"])
        assert headers["vary"] == "Accept-Encoding"
        page = gzip.decompress(body)
        assert b'<meta name="description" content="Small-batch beans' in page
        assert len(page) == len(plain)  # the same page; only the form token differs
        if seen[-1] == "HIT":
            break
    assert seen[0] in ("MISS", "EXPIRED") and seen[-1] == "HIT", seen
    # Each variant has its own cache entry: a plain client still gets plain bytes.
    status, headers, body = request(demo, "GET", "/", "coffee.localhost")
    assert "content-encoding" not in headers and body.startswith(b"<!doctype html>")
    for path in ("/thanks", "/privacy"):
        status, headers, body = request(demo, "GET", path, "coffee.localhost", headers=GZIP)
        assert status == 200 and headers["content-encoding"] == "gzip", path
        assert gzip.decompress(body).rstrip().endswith(b"</html>")
    status, headers, body = request(demo, "GET", "/static/landing.css", "coffee.localhost",
                                    headers=GZIP)
    assert headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == (STATIC_DIR / "landing.css").read_bytes()


def test_a_head_request_never_leaves_an_empty_page_in_the_micro_cache(demo):
    status, _, body = request(demo, "HEAD", "/", "books.localhost")
    assert status == 200 and body == b""
    for headers in ({}, GZIP):
        status, got, body = request(demo, "GET", "/", "books.localhost", headers=headers)
        page = gzip.decompress(body) if got.get("content-encoding") else body
        assert status == 200 and b"<h1>Margins</h1>" in page


def test_robots_txt_favicon_and_social_picture_per_site_through_nginx(demo):
    for host, rule in (("coffee.localhost", b"Allow: /"), ("quiet.localhost", b"Disallow: /")):
        status, headers, body = request(demo, "GET", "/robots.txt", host)
        assert status == 200 and headers["content-type"].startswith("text/plain")
        assert body == b"User-agent: *\n" + rule + b"\n", host
    _, _, quiet = request(demo, "GET", "/", "quiet.localhost")
    assert b'<meta name="robots" content="noindex">' in quiet
    for path, kind in (("/favicon.ico", "image/x-icon"), ("/social.png", "image/png")):
        status, headers, body = request(demo, "GET", path, "bikes.localhost")
        assert status == 200 and headers["content-type"] == kind and body, path
        assert "set-cookie" not in headers


def test_landing_page_light_and_dark_both_pass_contrast_checks(browser, demo):
    """Screenshots in test-artifacts/ (landing-light.png, landing-dark.png) to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    backgrounds = {}
    for scheme in ("light", "dark"):
        # bypass_csp only lets axe-core in; the CSP itself is checked by the next test.
        context = browser.new_context(color_scheme=scheme, bypass_csp=True,
                                      viewport={"width": 900, "height": 820})
        page = context.new_page()
        for host in ("coffee.localhost", "bikes.localhost", "books.localhost"):
            page.goto(f"http://{host}:{demo}/")
            if host == "coffee.localhost":
                page.screenshot(path=str(ARTIFACTS / f"landing-{scheme}.png"), full_page=True)
                backgrounds[scheme] = page.evaluate(
                    "getComputedStyle(document.querySelector('main')).backgroundColor")
            assert serious_axe_violations(page) == [], (scheme, host)
        context.close()
    assert backgrounds == {"light": "rgb(255, 255, 255)", "dark": "rgb(30, 30, 36)"}


def test_page_loads_nothing_else_and_trips_no_csp_with_its_icon_and_previews(browser, demo):
    origin = f"http://coffee.localhost:{demo}"
    context = browser.new_context(color_scheme="dark")
    page = context.new_page()
    requested, errors = [], []
    page.on("request", lambda r: requested.append(r.url))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    for path in PAGES:
        page.goto(origin + path)
        page.wait_for_load_state("networkidle")
    assert all(url.startswith(origin + "/") for url in requested), requested
    # Over plain http Chromium ignores COOP and says so; nothing else may show up.
    assert [e for e in errors if "Cross-Origin-Opener-Policy" not in e] == []
    assert context.cookies() == []
    context.close()


@pytest.mark.backends("sqlite")
def test_landingpad_serve_compresses_pages_and_static_files(cli_env):
    with landingpad_serve(cli_env) as (port, _):
        for _ in range(2):  # rendered, then from the page cache
            _, headers, body = request(port, "GET", "/", "coffee.test", headers=GZIP)
            assert headers["content-encoding"] == "gzip"
            assert b"<h1>Coffee Club</h1>" in gzip.decompress(body)
        _, headers, body = request(port, "GET", "/privacy", "coffee.test", headers=GZIP)
        assert headers["content-encoding"] == "gzip" and gzip.decompress(body)
        _, headers, body = request(port, "GET", "/static/landing.css", "coffee.test",
                                   headers=GZIP)
        assert headers["content-encoding"] == "gzip"
        assert gzip.decompress(body) == (STATIC_DIR / "landing.css").read_bytes()
        _, headers, body = request(port, "GET", "/static/landing.css", "coffee.test")
        assert "content-encoding" not in headers
        assert body == (STATIC_DIR / "landing.css").read_bytes()
