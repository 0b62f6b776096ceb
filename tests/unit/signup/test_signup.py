import re

import pytest
from sqlalchemy import select

from landingpad.storage.models import ConsentText, Signup


def test_signup_is_stored_then_redirected(post, db):
    response = post(email="  Alice@Example.COM ", interests=["Beans", "Brewing gear"])
    assert response.status_code == 303
    assert response.headers["Location"] == "/thanks"
    assert "Set-Cookie" not in response.headers
    row = db.scalars(select(Signup)).one()
    assert (row.site, row.email) == ("coffee.test", "alice@example.com")
    assert row.interests == ["Beans", "Brewing gear"]
    assert row.consented_at is not None and row.confirmed_at is None
    consent = db.get(ConsentText, row.consent_version)
    assert consent.text == "I agree to get email about Coffee Club when it launches."


def test_repeated_signup_gives_the_same_answer_and_one_row(post, db, stored):
    first = post(interests="Beans")
    second = post(email="ALICE@example.com", interests="Brewing gear")
    assert (first.status_code, first.headers["Location"], first.data) == \
           (second.status_code, second.headers["Location"], second.data)
    assert stored() == 1
    row = db.scalars(select(Signup)).one()
    assert row.interests == ["Brewing gear"] and row.created_at <= row.updated_at


def test_alias_files_signups_under_the_canonical_domain(post, db, token):
    assert post(host="www.coffee.test", token=token("coffee.test")).status_code == 303
    assert db.scalars(select(Signup.site)).one() == "coffee.test"


def test_same_address_on_two_sites_is_two_rows(post, token, stored):
    post()
    post(host="bikes.test", token=token("bikes.test"))
    assert stored() == 2


def test_thanks_page_and_double_optin_wording(client):
    assert "You're on the list" in client.get("/thanks", headers={"Host": "coffee.test"}).text
    assert "check your inbox" in client.get("/thanks", headers={"Host": "bikes.test"}).text


# -- bad input: a clear message, a 4xx, nothing stored ------------------------------

@pytest.mark.parametrize(("fields", "message"), [
    ({"email": "not-an-email"}, "An email address has one @ sign, like name@example.com."),
    ({"email": "a@b"}, "The part after the @ sign is not a valid domain name."),
    ({"email": ""}, "Please enter your email address."),
    ({"email": "x" * 245 + "@example.com"}, "This address is too long."),
    ({"email": "a" * 65 + "@example.com"}, "too long"),
    ({"interests": "Free money"}, "Please choose only among the options shown."),
    ({"consent": None}, "Please tick the box"),
    ({"email": "alice@example.com\r\nBcc: x@example.com"}, "Line breaks and NUL"),
    ({"email": "alice@example.com\x00"}, "Line breaks and NUL"),
    ({"interests": "Beans\n"}, "Line breaks and NUL"),
])
def test_bad_fields_rerender_the_form_with_a_message(post, stored, fields, message):
    response = post(**fields)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    assert 'name="token" value="' in html  # a fresh token, so the person can resend
    assert "Set-Cookie" not in response.headers
    assert stored() == 0


def test_typed_values_are_kept_on_error(post):
    html = post(email="bob@", interests="Beans").get_data(as_text=True)
    assert 'value="bob@"' in html
    assert re.search(r'<input checked[^>]*value="Beans"', html)
    assert not re.search(r'<input checked[^>]*value="Brewing gear"', html)


@pytest.mark.parametrize("body", [b"email=%FF%FE&consent=y", b"email=\xff\xfe@x.com&consent=y"])
def test_invalid_utf8_is_400(client, stored, body):
    response = client.post("/signup", data=body, headers={
        "Host": "coffee.test", "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert "not valid UTF-8" in response.get_data(as_text=True)
    assert stored() == 0


def test_body_over_the_limit_is_413(client, stored, token):
    body = f"email=a@example.com&consent=y&token={token()}&website=" + "x" * 10000
    response = client.post("/signup", data=body, headers={
        "Host": "coffee.test", "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    assert stored() == 0


def test_thousands_of_repeated_fields_are_refused(client, stored):
    body = "&".join(["interests=Beans"] * 2000)
    response = client.post("/signup", data=body, headers={
        "Host": "coffee.test", "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code in (400, 413)
    assert stored() == 0


@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data; boundary=x",
                                          "text/plain", None])
def test_wrong_content_type_is_415(client, stored, content_type):
    headers = {"Host": "coffee.test"}
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post("/signup", data=b'{"email": "a@example.com"}', headers=headers)
    assert response.status_code == 415
    assert "normal HTML form" in response.get_data(as_text=True)
    assert stored() == 0


@pytest.mark.parametrize(("method", "path"), [("GET", "/signup"), ("PUT", "/signup"),
                                              ("POST", "/"), ("DELETE", "/"), ("POST", "/thanks")])
def test_wrong_method_is_405_with_allow(client, method, path):
    response = client.open(path, method=method, headers={"Host": "coffee.test"})
    assert response.status_code == 405
    assert response.headers["Allow"]
    assert "Content-Security-Policy" in response.headers


def test_unknown_host_post_is_404_and_stores_nothing(post, stored, token):
    assert post(host="nobody.test", token=token("nobody.test")).status_code == 404
    assert stored() == 0


# -- cross-site and bots ------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "https://evil.example"},
    {"Origin": "null", "Sec-Fetch-Site": "cross-site"},  # a sandboxed frame elsewhere
    {"Origin": "http://coffee.test.evil.example"},
])
def test_cross_site_posts_are_403(post, stored, headers):
    response = post(headers=headers)
    assert response.status_code == 403
    assert stored() == 0


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "same-origin", "Origin": "https://coffee.test"},
    {"Origin": "http://coffee.test:8080"},
    # What Chromium really sends from our form: Referrer-Policy no-referrer makes
    # the Origin of a form post "null".
    {"Sec-Fetch-Site": "same-origin", "Origin": "null"},
    {},
])
def test_same_origin_posts_pass(post, stored, headers):
    assert post(headers=headers).status_code == 303
    assert stored() == 1


@pytest.mark.parametrize("trap", [
    {"website": "http://spam.example"},     # honeypot filled
    {"token": None},                          # no token
    {"token": "1234.forged"},                 # forged
    {"token": "zz.zz.zz"},                    # malformed
    {"fresh": True},                          # posted sooner than the minimum fill time
    {"other_site": True},                     # token of another site
])
def test_bots_get_the_thank_you_page_and_nothing_is_stored(post, stored, token, trap):
    fields = dict(trap)
    if fields.pop("fresh", False):
        fields["token"] = token(age=0.5)
    if fields.pop("other_site", False):
        fields["token"] = token("bikes.test")
    response = post(**fields)
    assert (response.status_code, response.headers["Location"]) == (303, "/thanks")
    assert stored() == 0


def test_a_bot_with_a_bad_email_learns_nothing(post, stored):
    response = post(email="garbage", website="filled")
    assert response.status_code == 303 and stored() == 0


def test_an_expired_form_asks_to_send_again(post, stored, token, app):
    response = post(token=token(age=app.config["FORM_MAX_AGE"] + 60))
    assert response.status_code == 400
    assert "open for too long" in response.get_data(as_text=True)
    assert stored() == 0


def test_token_is_reusable_within_its_age(post, token, stored):
    shared = token()
    assert post(email="a@example.com", token=shared).status_code == 303
    assert post(email="b@example.com", token=shared).status_code == 303
    assert stored() == 2


@pytest.mark.parametrize(("method", "path", "data"), [
    ("GET", "/", None), ("GET", "/thanks", None), ("GET", "/privacy", None),
    ("GET", "/nope", None), ("POST", "/signup", {"email": "bad"}), ("GET", "/signup", None),
])
def test_no_public_response_sets_a_cookie(client, method, path, data):
    for _ in range(2):
        response = client.open(path, method=method, data=data, headers={"Host": "coffee.test"})
        assert "Set-Cookie" not in response.headers, (path, response.status_code)
