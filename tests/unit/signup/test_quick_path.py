"""The sign-up's hot path (no WTForms form, a domain's check done once) decides exactly
as the full form and email_validator do."""

import pytest
from email_validator import EmailNotValidError
from hypothesis import example, given, settings
from hypothesis import strategies as st

from landingpad.mail.address import _validated, normalise_email
from landingpad.signup.forms import quick_signup

LOCAL = st.text(alphabet="abcXYZ09.!#$%&'*+/=?^_`{|}~-\"() ,:;<>@[\\]é", min_size=0, max_size=70)
DOMAIN = st.one_of(
    st.text(alphabet="abcXY09.-_", min_size=0, max_size=70),
    st.sampled_from(["example.com", "EXAMPLE.com", "mail.test", "localhost", "a.b",
                     "xn--bcher-kva.example", "bücher.example", "[127.0.0.1]", "com",
                     "-a.example", "a-.example", "a..example", "123.example", "example.123",
                     "invalid", "x.invalid", "a" * 64 + ".example", "example.local"]),
)


def outcome(fn, value):
    try:
        return fn(value)
    except EmailNotValidError:
        return "refused"


@settings(max_examples=2000, deadline=None)
@given(LOCAL, DOMAIN)
@example("Alice.Smith", "Example.COM")
@example("a" * 65, "example.com")
@example("a" * 64, "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".com")
@example(".a", "example.com")
@example("a..b", "example.com")
@example("postmaster", "example.com")
def test_the_quick_check_of_an_address_agrees_with_email_validator(local, domain):
    address = f"{local}@{domain}"
    slow = outcome(_validated, address) if len(address) <= 254 else "refused"
    assert outcome(normalise_email, address) == slow


CHOICES = ("Beans", "Brewing gear")


@pytest.mark.parametrize(("fields", "taken"), [
    ([("email", " a@example.com "), ("interests", "Beans"), ("consent", "y"),
      ("token", "t")], ("a@example.com", ["Beans"], "t")),
    ([("email", "a@example.com"), ("consent", "y"), ("token", "t"), ("website", ""),
      ("other", "x")], ("a@example.com", [], "t")),
    ([("email", "a@example.com"), ("consent", "y"), ("token", "t"), ("interests", "Beans"),
      ("interests", "Beans")], ("a@example.com", ["Beans", "Beans"], "t")),
])
def test_a_plain_post_takes_the_quick_path(fields, taken):
    assert tuple(quick_signup(fields, CHOICES)) == taken


@pytest.mark.parametrize("fields", [
    [("email", "a@example.com"), ("consent", "y")],  # no token
    [("email", "a@example.com"), ("token", "t")],  # no consent
    [("email", "a@example.com"), ("consent", "false"), ("token", "t")],
    [("email", "a@example.com"), ("consent", ""), ("token", "t")],
    [("consent", "y"), ("token", "t")],  # no email
    [("email", ""), ("consent", "y"), ("token", "t")],
    [("email", "a@example.com"), ("email", "b@example.com"), ("consent", "y"), ("token", "t")],
    [("email", "a@example.com"), ("consent", "y"), ("token", "t"), ("website", "x")],
    [("email", "a@example.com"), ("consent", "y"), ("token", "t"), ("interests", "Tea")],
])
def test_anything_else_goes_to_the_full_form(fields):
    assert quick_signup(fields, CHOICES) is None
