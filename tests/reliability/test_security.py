"""Access rules over every route, found from the apps' own URL maps (a new route is covered
without editing this file): login and CSRF on the admin side, no state change on GET, no
admin route on a public host, no mass assignment, no enumeration."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import func, select

from landingpad.storage import session_factory
from landingpad.storage.models import Announcement, Recipient, Signup, Suppression, User
from tests.unit.admin.conftest import ADMIN, PASSWORD

H = {"Host": ADMIN}
PUBLIC = {"Host": "coffee.test"}
# Reachable without a login on purpose: the log-in page itself, static files, logos, and
# the bucket's redirect back after a direct upload (a signed, short-lived state in the URL
# stands in for the session, which a cross-site redirect doesn't carry).
OPEN_ADMIN_ENDPOINTS = {"admin.login", "static", "assets.serve", "logos.direct_done"}


def admin_rules(app):
    admin = app.extensions["landingpad.admin"]
    return [r for r in admin.url_map.iter_rules()]


def sample_path(rule) -> str:
    """A concrete URL for a rule, with harmless made-up arguments."""
    values = {}
    for arg in rule.arguments:
        converter = rule._converters[arg].__class__.__name__
        values[arg] = 1 if converter == "IntegerConverter" else (
            "coffee.test" if arg in ("domain", "site") else "x")
    try:
        return rule.build(values, append_unknown=False)[1]
    except Exception:
        return rule.rule


def snapshot(app, data_dir) -> tuple:
    with session_factory(app)() as session:
        counts = tuple(session.scalar(select(func.count()).select_from(model))
                       for model in (Signup, Announcement, Recipient, Suppression, User))
        hashes = tuple(session.scalars(select(User.password_hash)))
        flags = tuple(session.execute(select(Signup.id, Signup.confirmed_at,
                                             Signup.unsubscribed_at, Signup.site)))
    sites = hashlib.sha256((data_dir / "sites.toml").read_bytes()).hexdigest()
    return counts, hashes, flags, sites


@pytest.fixture
def one_signup(app):
    from landingpad.storage.signups import record_signup

    with session_factory(app)() as session:
        record_signup(session, site="coffee.test", email="alice@example.com", interests=[],
                      consent_version="v", consent_text="t")


def test_every_admin_route_refuses_without_a_login(app, client):
    checked = 0
    for rule in admin_rules(app):
        if rule.endpoint in OPEN_ADMIN_ENDPOINTS:
            continue
        path = sample_path(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method, headers=H)
            if method == "GET":
                assert response.status_code == 302, (path, method, response.status_code)
                assert response.headers["Location"].startswith("/login"), path
            else:  # CSRF is checked first, then the login
                assert response.status_code in (302, 400), (path, method)
            checked += 1
    assert checked >= 10  # the walk found the admin routes


def test_every_admin_post_refuses_without_csrf(app, logged_in, data_dir, one_signup):
    before = snapshot(app, data_dir)
    posts = 0
    for rule in admin_rules(app):
        if "POST" not in rule.methods or rule.endpoint in OPEN_ADMIN_ENDPOINTS - {
                "admin.login"}:
            continue
        response = logged_in.post(sample_path(rule), headers=H,
                                  data={"confirm": "yes", "ids": [1]})
        assert response.status_code == 400, (rule.rule, response.status_code)
        posts += 1
    assert posts >= 6  # the walk found the admin forms
    assert snapshot(app, data_dir) == before


def test_no_get_anywhere_changes_anything(app, logged_in, data_dir, one_signup):
    before = snapshot(app, data_dir)
    for rule in admin_rules(app):
        if "GET" in rule.methods:
            logged_in.get(sample_path(rule), headers=H)
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods:
            logged_in.get(sample_path(rule), headers=PUBLIC)
    assert snapshot(app, data_dir) == before


def test_no_admin_route_is_reachable_on_a_public_host(app, logged_in):
    public_paths = {r.rule for r in app.url_map.iter_rules()}
    for rule in admin_rules(app):
        if rule.rule in public_paths:  # the same path is a public page there (e.g. "/")
            continue
        path = sample_path(rule)
        for method in ("GET", "POST"):
            response = logged_in.open(path, method=method, headers=PUBLIC)
            assert response.status_code in (404, 405), (path, method, response.status_code)
    page = logged_in.get("/", headers=PUBLIC).get_data(as_text=True)
    assert "Log out" not in page and "Sign-ups per day" not in page


def test_extra_form_fields_change_nothing(app, client, token):
    hostile = {"email": "mallory@example.com", "consent": "y", "token": token(),
               "confirmed": "1", "confirmed_at": "2020-01-01", "site": "bikes.test",
               "id": "1", "unsubscribed_at": "", "consent_version": "forged",
               "interests": ["Beans"], "created_at": "1999-01-01"}
    assert client.post("/signup", data=hostile, headers=PUBLIC).status_code == 303
    with session_factory(app)() as session:
        row = session.scalar(select(Signup).where(Signup.email == "mallory@example.com"))
    assert row.site == "coffee.test" and row.confirmed_at is None
    assert row.consent_version != "forged" and row.created_at.year > 2000


def test_an_existing_address_and_a_new_one_get_the_same_answers(app, client, token,
                                                                one_signup):
    def answers(email):
        signup = client.post("/signup", data={"email": email, "consent": "y",
                                              "token": token()}, headers=PUBLIC)
        privacy = client.post("/privacy/request", data={"email": email}, headers=PUBLIC)
        return (signup.status_code, signup.headers.get("Location"), privacy.status_code,
                privacy.get_data(as_text=True))

    assert answers("alice@example.com") == answers("nobody-here@example.com")


def test_log_in_answers_the_same_for_an_unknown_account_and_a_wrong_password(login):
    unknown, wrong = login(email="nobody@example.com"), login(password=PASSWORD + "x")
    assert unknown.status_code == wrong.status_code == 401

    def page(response, typed):  # the form shows back what was typed, and a CSRF token
        html = response.get_data(as_text=True).replace(typed, "TYPED")
        return re.sub(r'name="csrf_token" type="hidden" value="[^"]+"', "CSRF", html)

    assert page(unknown, "nobody@example.com") == page(wrong, "owner@example.com")
