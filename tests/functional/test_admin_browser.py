"""The admin area as a person uses it: real Chromium -> nginx -> uWSGI, plus axe-core checks."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from landingpad.admin.accounts import create_user
from landingpad.storage.engine import make_engine
from landingpad.storage.signups import record_signup
from tests.functional.conftest import start_stack

pytestmark = pytest.mark.functional
REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO / "test-artifacts"
PASSWORD = "correct horse battery"


@pytest.fixture
def admin_stack(cli_env, data_dir, database_url):
    engine = make_engine(database_url)
    with sa.orm.Session(engine) as session:
        create_user(session, "owner@example.com", PASSWORD)
        for email, interests in (("alice@example.com", ["Beans"]), ("bob@example.com", []),
                                 ("carol@example.com", ["Brewing gear"])):
            record_signup(session, site="coffee.test", email=email, interests=interests,
                          consent_version="v1", consent_text="I agree")
    engine.dispose()
    stack = start_stack(data_dir, {**cli_env, "LANDINGPAD_ADMIN_HOST": "admin.test"},
                        admin_host="admin.test")
    yield stack
    stack.stop()


def log_in(page, base: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Email").fill("owner@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/")


def serious_axe_violations(page) -> list[str]:
    assert AXE.exists(), f"{AXE} missing: ./run tests installs axe-core from npm"
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, "
                           "{runOnly: ['wcag2a', 'wcag2aa', 'best-practice']})")
    return [f"{v['id']} ({v['impact']}): {v['help']}" for v in result["violations"]
            if v["impact"] in ("serious", "critical")]


def test_owner_logs_in_searches_exports_deletes_and_logs_out(browser, admin_stack, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    base = f"http://admin.test:{admin_stack.port}"
    # bypass_csp only lets the test inject axe-core; the app's CSP is checked elsewhere.
    context = browser.new_context(bypass_csp=True, accept_downloads=True)
    page = context.new_page()

    page.goto(base + "/")
    assert urlsplit(page.url).path == "/login"
    assert serious_axe_violations(page) == []

    page.get_by_label("Email").fill("owner@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/")
    assert page.locator("svg.chart rect.bar").count() == 30
    assert page.locator(".totals").inner_text().startswith("3")
    page.screenshot(path=str(ARTIFACTS / "admin-dashboard.png"), full_page=True)
    assert serious_axe_violations(page) == []

    page.get_by_role("link", name="Sign-ups").click()
    page.get_by_label("Email contains").fill("alice")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("tbody tr")
    assert rows.count() == 1 and "alice@example.com" in rows.first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "admin-signups.png"), full_page=True)
    assert serious_axe_violations(page) == []

    with page.expect_download() as download:
        page.get_by_role("link", name="Export these as CSV").click()
    text = Path(download.value.path()).read_text()
    assert text.splitlines()[0].startswith("site,email") and "alice@example.com" in text
    assert "bob@example.com" not in text

    page.get_by_label("Select alice@example.com").check()
    page.get_by_role("button", name="Delete selected").click()
    assert page.get_by_role("heading", name="Delete 1 sign-up?").is_visible()
    page.get_by_role("button", name="Yes, delete them").click()
    assert page.get_by_text("Deleted 1 sign-up.").is_visible()
    page.goto(base + "/signups")
    assert "alice@example.com" not in page.locator("tbody").inner_text()

    page.get_by_role("link", name="Announcements").click()
    page.get_by_label("coffee.test").check()
    page.get_by_label("Subject").fill("We are open")
    page.get_by_label("Message (Markdown)").fill("Come **in**.")
    page.get_by_role("button", name="Save").click()
    assert page.get_by_role("heading", name="We are open").is_visible()
    page.screenshot(path=str(ARTIFACTS / "admin-announcement.png"), full_page=True)
    assert serious_axe_violations(page) == []

    page.get_by_role("link", name="Certificates").click()
    assert page.get_by_role("heading", name="Certificates", exact=True).is_visible()
    assert page.locator("#none th[scope=row]").count() or page.locator(
        "#pending th[scope=row]").count()  # coffee.test has no certificate yet
    page.screenshot(path=str(ARTIFACTS / "admin-certificates.png"), full_page=True)
    assert serious_axe_violations(page) == []

    page.get_by_role("button", name="Log out").click()
    assert urlsplit(page.url).path == "/login"
    page.goto(base + "/signups")
    assert urlsplit(page.url).path == "/login"
    context.close()


def test_public_page_is_accessible_and_loads_only_from_its_own_origin(browser, admin_stack):
    origin = f"http://coffee.test:{admin_stack.port}"
    context = browser.new_context()
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(origin + "/")
    page.wait_for_load_state("networkidle")
    assert requested and all(url.startswith(origin + "/") for url in requested), requested
    assert context.cookies() == []
    page.screenshot(path=str(ARTIFACTS / "public-landing.png"), full_page=True)
    # Keyboard: Tab reaches the email field first, the button is reachable too.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "email"
    context.close()
    checked = browser.new_context(bypass_csp=True).new_page()
    checked.goto(origin + "/")
    assert serious_axe_violations(checked) == []
    checked.context.close()


def test_admin_pages_are_not_micro_cached_by_nginx(admin_stack):
    from tests.servers import request

    for _ in range(2):
        status, headers, _ = request(admin_stack.port, "GET", "/", "admin.test")
        assert status == 302 and "x-cache-status" not in headers
        assert headers["cache-control"] == "no-store"
