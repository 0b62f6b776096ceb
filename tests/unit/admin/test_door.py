"""The admin area's one door: only what the admin listener marks reaches the admin app."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from flask import session
from flask.testing import FlaskClient

from landingpad import create_app
from landingpad.admin import EntranceDispatch
from landingpad.web.headers import ADMIN_ENTRANCE, ENTRANCE, NoPublicCookieSessions
from tests.unit.admin.conftest import ADMIN, ADMIN_DOOR, PASSWORD, csrf_token

H = {"Host": ADMIN}
LOGIN_FORM = 'name="password"'


def wire(text: str) -> str:
    """A Host as a WSGI server hands it over: the raw bytes, one character per byte."""
    return text.encode().decode("latin-1")


# Spellings IDNA/UTS46 mapping folds into "admin.test": fullwidth letters and dot, a soft
# hyphen, a zero-width joiner, compatibility characters.
FULLWIDTH_ADMIN = "\uff41\uff44\uff4d\uff49\uff4e.test"
MAPPED_TO_ADMIN = [FULLWIDTH_ADMIN, "admin\uff0etest", "ad\u00admin.test", "ad\u200dmin.test",
                   "\u1d43dmin.test", "ADM\uff29N.test", "admin.te\u017ft"]
# On the wire: UTF-8 bytes (one character per byte in the environ, as uWSGI hands them
# over), and single bytes that are a soft hyphen or a feminine ordinal in Latin-1.
ON_THE_WIRE = [wire(h) for h in MAPPED_TO_ADMIN] + ["ad\xadmin.test", "\xaadmin.test"]
NON_ASCII = MAPPED_TO_ADMIN + ON_THE_WIRE
ASCII_SPELLINGS = ["admin.test", "ADMIN.Test", "admin.test.", "admin.test:8443", "admin.test:80"]


@pytest.fixture
def plain(app) -> FlaskClient:
    """A client with no nginx in front: every request says exactly what the test gives."""
    return FlaskClient(app, use_cookies=True)


# -- the dispatcher -------------------------------------------------------------------

def _app(name: str):
    def wsgi(environ, start_response):
        start_response("200 OK", [])
        return [name.encode()]
    return wsgi


@pytest.mark.parametrize(("environ", "expected"), [
    ({ENTRANCE: ADMIN_ENTRANCE, "HTTP_HOST": "coffee.test"}, b"admin"),
    ({ENTRANCE: ADMIN_ENTRANCE}, b"admin"),
    ({"HTTP_HOST": ADMIN}, b"public"),
    ({"HTTP_HOST": ADMIN, "SERVER_NAME": ADMIN}, b"public"),
    ({"HTTP_HOST": ADMIN, "HTTP_LANDINGPAD_ENTRANCE": ADMIN_ENTRANCE}, b"public"),
    ({"HTTP_HOST": ADMIN, ENTRANCE: "Admin"}, b"public"),
    ({"HTTP_HOST": ADMIN, ENTRANCE: ""}, b"public"),
])
def test_the_dispatcher_goes_by_the_entrance_never_by_the_host(environ, expected):
    dispatch = EntranceDispatch(_app("public"), _app("admin"))
    assert b"".join(dispatch(environ, lambda *a: None)) == expected


# -- a public listener never reaches the admin app ------------------------------------

@pytest.mark.parametrize("host", ASCII_SPELLINGS + NON_ASCII)
@pytest.mark.parametrize("path", ["/login", "/", "/export.csv", "/signups"])
def test_no_host_reaches_the_admin_through_a_public_listener(plain, host, path):
    response = plain.get(path, environ_overrides={"HTTP_HOST": host})
    assert response.status_code in (400, 404), (host, path, response.status_code)
    assert LOGIN_FORM not in response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("host", NON_ASCII)
def test_a_non_ascii_host_is_refused_with_400_on_either_door(plain, host):
    for environ in ({}, ADMIN_DOOR):
        response = plain.get("/login", environ_overrides={"HTTP_HOST": host, **environ})
        assert response.status_code == 400, (host, environ)


def test_a_non_ascii_host_is_refused_by_the_public_app_too(app_config):
    """Without any admin area, fullwidth "coffee.test" is not another name for coffee.test."""
    client = create_app(app_config).test_client()
    assert client.get("/", headers={"Host": "coffee.test"}).status_code == 200
    for host in ("\uff43\uff4f\uff46\uff46\uff45\uff45.test", "co\u00adffee.test",
                 "co\xadffee.test", wire("co\u00adffee.test"), "coffee\u200d.test"):
        response = client.get("/", environ_overrides={"HTTP_HOST": host})
        assert response.status_code == 400 and b"Coffee Club" not in response.data


def test_a_logged_in_cookie_opens_nothing_through_a_public_listener(app, logged_in):
    assert logged_in.get("/export.csv", headers=H).status_code == 200  # the admin door
    for host in ASCII_SPELLINGS:
        response = logged_in.get("/export.csv", headers={"Host": host},
                                 environ_overrides={ENTRANCE: ""})
        assert response.status_code == 404 and response.mimetype != "text/csv", host


# -- the admin door answers only for the admin host ---------------------------------

@pytest.mark.parametrize("host", ASCII_SPELLINGS)
def test_the_admin_door_serves_the_admin_host_in_any_ascii_spelling(plain, host):
    response = plain.get("/login", environ_overrides={"HTTP_HOST": host, **ADMIN_DOOR})
    assert response.status_code == 200 and LOGIN_FORM in response.get_data(as_text=True)


@pytest.mark.parametrize("host", ["coffee.test", "localhost", "127.0.0.1", "", "admin.test.evil"])
def test_the_admin_door_serves_no_other_host(plain, host):
    for path in ("/login", "/", "/static/admin.css"):
        response = plain.get(path, environ_overrides={"HTTP_HOST": host, **ADMIN_DOOR})
        assert response.status_code in (400, 404), (host, path)
        assert LOGIN_FORM not in response.get_data(as_text=True)


def test_a_post_at_the_wrong_host_is_refused_before_csrf_and_login(plain):
    response = plain.post("/login", data={"email": "owner@example.com", "password": PASSWORD},
                          environ_overrides={"HTTP_HOST": "coffee.test", **ADMIN_DOOR})
    assert response.status_code == 404


# -- the session cookie follows the same door ---------------------------------------

@pytest.mark.parametrize(("environ", "sets"), [
    ({"HTTP_HOST": ADMIN, **ADMIN_DOOR}, True),
    ({"HTTP_HOST": "ADMIN.test:8443", **ADMIN_DOOR}, True),
    ({"HTTP_HOST": ADMIN}, False),                        # a public listener
    ({"HTTP_HOST": "coffee.test", **ADMIN_DOOR}, False),  # the door, another host
    ({"HTTP_HOST": wire(FULLWIDTH_ADMIN), **ADMIN_DOOR}, False),
])
def test_a_session_cookie_is_only_set_through_the_admin_door(app, environ, sets):
    with app.test_request_context("/", environ_overrides=environ):
        session["x"] = 1
        assert NoPublicCookieSessions().should_set_cookie(app, session) is sets


# -- the log-in redirect stays on the admin host --------------------------------------

def _login_with_next(client, target: str):
    data = {"email": "owner@example.com", "password": PASSWORD, "csrf_token": csrf_token(client)}
    return client.post("/login?" + urlencode({"next": target}), data=data, headers=H)


@pytest.mark.parametrize("target", [
    "//evil.example", "///evil.example", "/\tevil.example", "/\t/evil.example",
    "/\nevil.example", "/\r\nSet-Cookie: x=1", "/\\evil.example", "\\/evil.example",
    "\\\\evil.example", "/%09/evil.example", "/%2F/evil.example", "/%5Cevil.example",
    "/%0d%0aLocation: //evil.example", "https:evil.example", "https://evil.example/",
    "http:/evil.example", "javascript:alert(1)", "evil.example", "/ /evil.example",
    "/\x00", "/\u3000/evil.example", "/\uff0f/evil.example", "/" + "a" * 5000, "",
])
def test_the_log_in_redirect_never_leaves_the_admin_host(client, target):
    response = _login_with_next(client, target)
    assert response.status_code == 302, response.status_code
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", ["/signups?q=alice&page=2", "/signups", "/?site=coffee.test"])
def test_the_log_in_redirect_keeps_a_path_on_the_admin_host(client, target):
    response = _login_with_next(client, target)
    assert response.status_code == 302 and response.headers["Location"] == target


def test_a_page_that_needs_a_login_comes_back_after_it(client):
    to_login = client.get("/signups?q=alice", headers=H)
    assert to_login.status_code == 302
    data = {"email": "owner@example.com", "password": PASSWORD, "csrf_token": csrf_token(client)}
    response = client.post(to_login.headers["Location"], data=data, headers=H)
    assert response.headers["Location"] == "/signups?q=alice"


# -- failed log-ins are counted per client for the admin area, whatever the Host --------

def test_the_per_client_log_in_limit_holds_across_ports_and_spellings(login, client):
    def attempt(host: str, email: str):
        data = {"email": email, "password": "wrong password here",
                "csrf_token": csrf_token(client)}
        return client.post("/login", data=data, headers={"Host": host})

    hosts = [f"{ADMIN}:{8000 + i}" for i in range(10)] + ["ADMIN.test", ADMIN] + [
        f"Admin.Test:{9000 + i}" for i in range(8)]
    for i, host in enumerate(hosts):  # 20 failures, each account under its limit
        assert attempt(host, f"user{i}@example.com").status_code == 401, host
    assert attempt(f"{ADMIN}:7777", "someone@example.com").status_code == 429
    assert login().status_code == 429  # the right password too, from this client


# -- logging out ends the session on the server ---------------------------------------

def test_a_session_cookie_copied_before_log_out_is_refused_after_it(app, logged_in):
    copied = logged_in.get_cookie("session", domain=ADMIN).value
    elsewhere = app.test_client()  # the same cookie, replayed from another machine
    elsewhere.set_cookie("session", copied, domain=ADMIN)
    assert elsewhere.get("/", headers=H).status_code == 200

    token = csrf_token(logged_in, "/")
    assert logged_in.post("/logout", data={"csrf_token": token}, headers=H).status_code == 302

    for client in (elsewhere, logged_in):
        client.set_cookie("session", copied, domain=ADMIN)
        for path in ("/", "/export.csv", "/signups"):
            response = client.get(path, headers=H)
            assert response.status_code == 302, path
            assert response.headers["Location"].startswith("/login")


def test_logging_in_again_after_log_out_works(logged_in, login):
    token = csrf_token(logged_in, "/")
    logged_in.post("/logout", data={"csrf_token": token}, headers=H)
    assert logged_in.get("/", headers=H).status_code == 302
    assert login().status_code == 302
    assert logged_in.get("/", headers=H).status_code == 200


def test_a_log_out_without_its_csrf_token_ends_nothing(app, logged_in):
    copied = logged_in.get_cookie("session", domain=ADMIN).value
    assert logged_in.post("/logout", headers=H).status_code == 400
    other = app.test_client()
    other.set_cookie("session", copied, domain=ADMIN)
    assert other.get("/", headers=H).status_code == 200
    assert re.search(r"Log out", other.get("/", headers=H).get_data(as_text=True))


# -- the listeners that set the door -------------------------------------------------------

def test_only_the_rendered_admin_block_sets_the_admin_door(data_dir, tmp_path):
    from landingpad.deploy.render import DeployOptions, render_all
    from landingpad.sites.sitesfile import load_sites

    options = DeployOptions(deploy_dir=str(tmp_path), data_dir=str(data_dir), admin_host=ADMIN,
                            admin_listen="127.0.0.1:8443")
    files = render_all(options, load_sites(data_dir / "sites.toml"))
    text = files["landingpad.conf"]
    block = text.split(f"server_name {ADMIN};")[1].split("\n}\n")[0]
    locations = block.split("location ")[1:]
    to_app = [loc for loc in locations if "landingpad-params.conf" in loc]
    assert len(to_app) == 2  # /login and /
    door = f"uwsgi_param {ENTRANCE} {ADMIN_ENTRANCE};"
    assert all(door in loc for loc in to_app)
    # Nowhere else: not in the public or TLS blocks, nor in the shared includes.
    assert text.count(f"uwsgi_param {ENTRANCE}") == 2
    assert not any(ENTRANCE in body for name, body in files.items() if name != "landingpad.conf")


def test_serve_sets_the_admin_door_by_listening_port_only(monkeypatch):
    from landingpad.deploy import uwsgi

    monkeypatch.setattr(uwsgi, "uwsgi_binary", lambda: "uwsgi")
    public_only = uwsgi.http_args("127.0.0.1:8080", 2)
    assert public_only.count("--http") == 1 and not any(ENTRANCE in a for a in public_only)
    both = uwsgi.http_args("127.0.0.1:8080", 2, "127.0.0.1:8081")
    assert [a for a in both if ENTRANCE in a] == [
        f"equal:${{SERVER_PORT}};8081 addvar:{ENTRANCE}={ADMIN_ENTRANCE}"]
    assert [both[i + 1] for i, a in enumerate(both) if a == "--http"] == [
        "127.0.0.1:8080", "127.0.0.1:8081"]


# -- over TLS -------------------------------------------------------------------------------

def test_over_tls_a_browsers_log_in_post_passes_and_gets_a_secure_cookie(app):
    # What a browser sends from a page whose policy is no-referrer: no Referer, Origin
    # null (Fetch), and nginx's Host without the port.
    client = app.test_client()
    base = "https://admin.test"
    page = client.get("/login", base_url=base)
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      page.get_data(as_text=True)).group(1)
    form = {"email": "owner@example.com", "password": PASSWORD, "csrf_token": token}
    response = client.post("/login", data=form, base_url=base,
                           headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 302, response.get_data(as_text=True)[-300:]
    cookie = response.headers["Set-Cookie"]
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "SameSite=Strict" in cookie
    # Without its token, still refused.
    refused = client.post("/login", data={**form, "csrf_token": "x"}, base_url=base)
    assert refused.status_code == 400
