import csv
import io
import re

import pytest
from sqlalchemy import func, select

from landingpad import create_app
from landingpad.storage.models import Signup
from tests.unit.admin.conftest import ADMIN, PASSWORD, csrf_token

H = {"Host": ADMIN}


# -- the admin area lives only on the admin host ---------------------------------

@pytest.mark.parametrize("path", ["/login", "/signups", "/export.csv", "/signups/delete"])
def test_admin_routes_are_404_on_public_hosts(client, path):
    for method in ("GET", "POST"):
        assert client.open(path, method=method, headers={"Host": "coffee.test"}).status_code \
            in (404, 405)
    assert client.get(path, headers={"Host": "coffee.test"}).status_code == 404


def test_admin_host_serves_no_public_page(client):
    assert client.get("/", headers=H).status_code == 302  # to the log-in, not a landing page
    assert client.get("/thanks", headers=H).status_code == 404
    assert client.post("/signup", data={"email": "a@example.com"}, headers=H).status_code \
        in (400, 404)  # CSRF refuses it before routing, or no such route


def test_without_an_admin_host_the_area_is_off(app_config):
    client = create_app(app_config).test_client()
    assert client.get("/login", headers=H).status_code in (400, 404)  # admin.test isn't a site
    assert client.get("/login", headers={"Host": "coffee.test"}).status_code == 404


# -- log-in -----------------------------------------------------------------------

def test_login_page_has_a_csrf_token_and_labels(client):
    html = client.get("/login", headers=H).get_data(as_text=True)
    assert 'name="csrf_token"' in html and 'for="email"' in html and 'for="password"' in html


def test_login_sets_a_strict_httponly_session(client, login):
    response = login()
    assert response.status_code == 302 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    assert client.get("/", headers=H).status_code == 200


def test_session_cookie_is_secure_over_tls(client):
    response = client.get("/login", base_url=f"https://{ADMIN}")  # stores the CSRF secret
    cookies = response.headers.getlist("Set-Cookie")
    assert cookies and all("Secure" in c for c in cookies)
    plain = client.get("/login", headers=H)
    assert all("Secure" not in c for c in plain.headers.getlist("Set-Cookie"))


def test_login_without_csrf_is_refused(client):
    response = client.post("/login", data={"email": "owner@example.com", "password": PASSWORD},
                           headers=H)
    assert response.status_code == 400
    assert client.get("/", headers=H).status_code == 302


def test_unknown_user_and_wrong_password_look_the_same(login):
    wrong = login(password="wrong password here")
    unknown = login(email="nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda r: re.sub(r'value="[^"]+"', "", r.get_data(as_text=True))  # noqa: E731
    assert strip(wrong) == strip(unknown).replace("nobody@example.com", "owner@example.com")
    assert "Wrong email or password." in wrong.get_data(as_text=True)


def test_a_new_session_on_login(client, login):
    csrf_token(client)
    before = client.get_cookie("session", domain=ADMIN)
    login()
    after = client.get_cookie("session", domain=ADMIN)
    assert before is not None and after is not None and before.value != after.value


def test_guessing_is_throttled_per_account(login):
    for _ in range(5):
        assert login(password="wrong password here").status_code == 401
    response = login()  # even the right password, for now
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many failed log-ins" in response.get_data(as_text=True)


def test_guessing_is_throttled_per_client(login):
    for i in range(20):
        assert login(email=f"user{i}@example.com").status_code == 401
    assert login().status_code == 429


def test_open_redirects_are_refused(login):
    response = login(next="//evil.example/x")  # as a form field: ignored
    assert response.headers["Location"] == "/"


def test_logout_needs_post_and_csrf(logged_in):
    assert logged_in.get("/logout", headers=H).status_code == 405
    assert logged_in.post("/logout", headers=H).status_code == 400
    token = csrf_token(logged_in, "/")
    assert logged_in.post("/logout", data={"csrf_token": token}, headers=H).status_code == 302
    assert logged_in.get("/", headers=H).status_code == 302


def test_password_change_ends_existing_sessions(app, logged_in):
    from landingpad.admin.accounts import set_password
    from landingpad.storage import session_factory
    from landingpad.storage.models import User

    with session_factory(app)() as session:
        set_password(session, session.scalar(select(User)), "another long password")
    assert logged_in.get("/", headers=H).status_code == 302


@pytest.mark.parametrize("path", ["/", "/signups", "/export.csv"])
def test_pages_need_login(client, path):
    response = client.get(path, headers=H)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_state_changes_need_login_and_csrf(client, logged_in, signups):
    token = csrf_token(logged_in, "/signups")
    ids = list(signups.values())
    assert logged_in.post("/signups/delete", data={"ids": ids, "confirm": "yes"},
                          headers=H).status_code == 400  # no CSRF token
    logged_in.post("/logout", data={"csrf_token": token}, headers=H)
    response = logged_in.post("/signups/delete", data={"ids": ids, "confirm": "yes",
                                                       "csrf_token": token}, headers=H)
    assert response.status_code in (302, 400)
    assert "/login" in response.headers.get("Location", "/login")


# -- the pages ----------------------------------------------------------------------

def test_dashboard_counts_and_chart(logged_in, signups):
    html = logged_in.get("/", headers=H).get_data(as_text=True)
    assert '<svg class="chart"' in html and 'role="img"' in html
    assert re.search(r'<span class="n">3</span> sign-ups', html)
    assert re.search(r'<span class="n">1</span> confirmed', html)
    assert re.search(r"coffee\.test</a></th>\s*<td>2</td><td>1</td><td>0</td><td>1</td>", html)
    one = logged_in.get("/?site=bikes.test", headers=H).get_data(as_text=True)
    assert "Sign-ups per day, last 30 days: bikes.test" in one
    assert logged_in.get("/?site=nope.test", headers=H).status_code == 404


def test_pages_are_never_cached_and_have_strict_headers(logged_in):
    response = logged_in.get("/", headers=H)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(("query", "expected"), [
    ("", {"alice@example.com", "=cmd@example.com", "bob@example.com"}),
    ("q=ALICE", {"alice@example.com"}),
    ("q=%25", set()),                               # a LIKE wildcard is searched literally
    ("site=bikes.test", {"bob@example.com"}),
    ("interest=Brewing+gear", {"=cmd@example.com"}),
    ("interest=Beans", {"alice@example.com", "=cmd@example.com"}),
    ("state=confirmed", {"alice@example.com"}),
    ("state=unconfirmed", {"=cmd@example.com"}),
    ("state=unsubscribed", {"bob@example.com"}),
])
def test_search(logged_in, signups, query, expected):
    html = logged_in.get(f"/signups?{query}", headers=H).get_data(as_text=True)
    shown = set(re.findall(r'aria-label="Select ([^"]+)"', html))
    assert {s.replace("&#34;", '"') for s in shown} == expected


def test_sorting_and_bad_parameters(logged_in, signups):
    html = logged_in.get("/signups?sort=email&order=asc", headers=H).get_data(as_text=True)
    assert re.findall(r'aria-label="Select ([^"]+)"', html) == [
        "=cmd@example.com", "alice@example.com", "bob@example.com"]
    response = logged_in.get("/signups?sort=evil&order=;drop&page=-4&state=zzz", headers=H)
    assert response.status_code == 200 and "Unknown state" in response.get_data(as_text=True)


def test_pagination(app, logged_in):
    from landingpad.storage import session_factory
    from landingpad.storage.signups import record_signup

    with session_factory(app)() as session:
        for i in range(60):
            record_signup(session, site="coffee.test", email=f"u{i:02d}@example.com",
                          interests=[], consent_version="v", consent_text="t")
    first = logged_in.get("/signups", headers=H).get_data(as_text=True)
    second = logged_in.get("/signups?page=2", headers=H).get_data(as_text=True)
    assert first.count('name="ids"') == 50 and second.count('name="ids"') == 10
    assert "Page 1 of 2" in first and 'rel="next"' in first and 'rel="prev"' in second


def test_delete_asks_first_then_deletes(app, logged_in, signups, db):
    token = csrf_token(logged_in, "/signups")
    target = [signups["alice@example.com"], signups["bob@example.com"]]
    step1 = logged_in.post("/signups/delete", data={"ids": target, "csrf_token": token}, headers=H)
    html = step1.get_data(as_text=True)
    assert step1.status_code == 200 and "Delete 2 sign-ups?" in html
    assert db.scalar(select(func.count()).select_from(Signup)) == 3  # nothing yet
    step2 = logged_in.post("/signups/delete", data={"ids": target, "confirm": "yes",
                                                    "csrf_token": token}, headers=H)
    assert step2.status_code == 302
    db.expire_all()
    assert db.scalars(select(Signup.email)).all() == ["=cmd@example.com"]
    assert "Deleted 2 sign-ups." in logged_in.get("/signups", headers=H).get_data(as_text=True)


def test_delete_with_nothing_chosen(logged_in, signups):
    token = csrf_token(logged_in, "/signups")
    response = logged_in.post("/signups/delete", data={"csrf_token": token}, headers=H)
    assert response.status_code == 302
    assert "Choose at least one" in logged_in.get("/signups", headers=H).get_data(as_text=True)


def test_export_is_a_safe_streamed_csv(logged_in, signups):
    response = logged_in.get("/export.csv?site=coffee.test", headers=H)
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:3] == ["site", "email", "interests"]
    assert sorted(r[1] for r in rows[1:]) == ["'=cmd@example.com", "alice@example.com"]
