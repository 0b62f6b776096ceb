"""Every public page, as a visitor's Chromium sees it through nginx -> uWSGI.

Each page must load only from its own origin, set no cookie, trip no CSP violation
(Chromium reports those on the console), and pass axe-core's serious checks.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from landingpad import create_app
from landingpad.storage.models import Signup
from landingpad.web.links import access_token, confirm_token, unsubscribe_token
from tests.conftest import TEST_SECRET
from tests.functional.test_admin_browser import ARTIFACTS, serious_axe_violations

pytestmark = pytest.mark.functional
EMAIL = "visitor@example.com"


def test_every_public_page_is_same_origin_cookieless_and_accessible(browser, stack, data_dir,
                                                                     database_url):
    origin = f"http://bikes.test:{stack.port}"  # the double opt-in site: every page exists
    context = browser.new_context()
    page = context.new_page()
    requested: list[str] = []
    console_errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda msg: msg.type == "error" and console_errors.append(msg.text))
    visited: list[str] = []

    def look(name: str) -> None:
        page.wait_for_load_state("networkidle")
        visited.append(page.url)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"public-{name}.png"), full_page=True)

    page.goto(origin + "/")
    look("landing")
    page.get_by_role("textbox", name="Your email address").fill(EMAIL)
    page.get_by_role("checkbox", name="I agree").check()
    page.get_by_role("button").click()
    page.wait_for_url(origin + "/thanks*")
    look("thanks")
    page.goto(origin + "/privacy")
    look("privacy")
    page.goto(origin + "/privacy/request")
    look("privacy-request")
    page.get_by_label("Your email address").fill(EMAIL)
    page.get_by_role("button", name="Email me a link").click()
    look("privacy-requested")

    # The links a visitor gets by email, minted with the stack's own key.
    app = create_app({"DATA_DIR": str(data_dir), "DATABASE_URL": database_url,
                      "SECRET_KEY": TEST_SECRET})
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        signup_id, key = conn.execute(sa.select(Signup.id, Signup.link_key)
                                      .where(Signup.email == EMAIL)).one()
    engine.dispose()
    with app.app_context():
        links = {"confirm": f"/confirm/{confirm_token(signup_id, key)}",
                 "unsubscribe": f"/unsubscribe/{unsubscribe_token(signup_id, key)}",
                 "data": f"/privacy/data/{access_token(signup_id, key)}"}
    app.extensions["landingpad.db"].dispose()

    page.goto(origin + links["confirm"])
    look("confirm")
    page.get_by_role("button", name="Confirm").click()
    look("confirmed")
    page.goto(origin + links["unsubscribe"])
    look("unsubscribe")
    page.goto(origin + links["data"])
    look("data")
    assert EMAIL in page.content()
    page.get_by_role("button", name="Erase all of it").click()
    look("erased")
    # Over plain http Chromium ignores COOP and says so; anything else (a CSP
    # violation, a failed load) is a real error.
    assert [e for e in console_errors if "Cross-Origin-Opener-Policy" not in e] == []
    page.goto(origin + "/no-such-page")  # its own 404 is logged as a failed load
    look("404")

    assert len(visited) == 11
    assert requested and all(url.startswith(origin + "/") for url in requested), requested
    assert context.cookies() == []
    context.close()

    # axe-core needs its script injected, which the app's CSP rightly forbids: a
    # second context bypasses CSP for that alone. GET pages only (the POSTs above
    # render the same templates).
    checked = browser.new_context(bypass_csp=True).new_page()
    for url in {u.split("?")[0] for u in visited} - {origin + links["data"]}:
        checked.goto(url)
        assert serious_axe_violations(checked) == [], url
    checked.context.close()
