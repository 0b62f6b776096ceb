"""landingpad.values: one parser per kind of value, one wording per mistake, for the
install's settings and the sites' fields alike."""

import pytest

from landingpad import values
from landingpad.settings import SettingsError, load
from landingpad.sites.site import parse_value


@pytest.mark.parametrize(("raw", "parsed"), [
    ("true", True), (" Yes ", True), ("ON", True), ("1", True), (True, True),
    ("false", False), ("no", False), ("Off", False), ("0", False), (False, False),
])
def test_flags(raw, parsed):
    assert values.flag(raw) is parsed


@pytest.mark.parametrize("raw", ["maybe", "", "2", 1, None, ["true"]])
def test_a_bad_flag(raw):
    with pytest.raises(ValueError, match=r"^must be true or false$"):
        values.flag(raw)


def test_text_strips_unless_told_and_refuses_breaks_and_length():
    assert values.text(5)("  abc ") == "abc"
    assert values.text(strip=False)(" pw ") == " pw "
    with pytest.raises(ValueError, match=r"^must be a string$"):
        values.text()(5)
    with pytest.raises(ValueError, match=r"^must not contain control characters or line "
                                         r"breaks \(found U\+0009\)$"):
        values.text(strip=False)("a\tb")
    with pytest.raises(ValueError, match=r"^must be at most 3 characters$"):
        values.text(3)("abcd")


@pytest.mark.parametrize(("parse", "raw", "parsed"), [
    (values.whole(0), "0", 0), (values.whole(1), " 12 ", 12), (values.whole(1), 7, 7),
    (values.port, "65535", 65535), (values.number(0), "0.5", 0.5), (values.number(0), 2, 2.0),
])
def test_numbers(parse, raw, parsed):
    assert parse(raw) == parsed


@pytest.mark.parametrize(("parse", "raw", "message"), [
    (values.whole(1), "lots", "must be a whole number >= 1"),
    (values.whole(1), "0", "must be a whole number >= 1"),
    (values.whole(0), "-5", "must be a whole number >= 0"),
    (values.whole(0), "1e9x", "must be a whole number >= 0"),
    (values.whole(0), True, "must be a whole number >= 0"),
    (values.whole(0), "1\n2", "must not contain control characters"),
    (values.port, "0", "must be a whole number from 1 to 65535"),
    (values.port, "65536", "must be a whole number from 1 to 65535"),
    (values.number(0), "nan", "must be a number >= 0"),
    (values.number(0), "inf", "must be a number >= 0"),
    (values.number(0), "-1", "must be a number >= 0"),
    (values.number(0), "soon", "must be a number >= 0"),
])
def test_bad_numbers(parse, raw, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        parse(raw)


def test_choice_and_email():
    parse = values.choice("smtp", "folder")
    assert parse("smtp") == "smtp"
    with pytest.raises(ValueError, match=r"^must be one of smtp, folder$"):
        parse("ftp")
    assert values.email(" Me@Example.COM ") == "Me@example.com" and values.email("") == ""
    with pytest.raises(ValueError, match=r"^not a valid email address: "):
        values.email("me@")


def test_domain():
    assert values.domain(" Bounces.Example.COM. ") == "bounces.example.com"
    assert values.domain("") == ""
    for bad in ("not a domain", "-x.example", "a..example", "exämple.com", "x" * 64 + ".com"):
        with pytest.raises(ValueError, match=r"^must be a domain name"):
            values.domain(bad)


# The same mistake in an install setting and in a site field reads the same.
@pytest.mark.parametrize(("variable", "key", "raw"), [
    ("LANDINGPAD_SMTP_SSL", "LANDING_HSTS", "maybe"),
    ("LANDINGPAD_ADMIN_HOST", "LANDING_TITLE", "two\nlines"),
    ("LANDINGPAD_SMTP_USERNAME", "LANDING_CONSENT", "a\u2028b"),
    ("LANDINGPAD_ACME_EMAIL", "LANDING_FROM", "not-an-address"),
])
def test_one_wording_for_settings_and_sites(variable, key, raw, tmp_path):
    with pytest.raises(ValueError) as site_error:
        parse_value(key, raw)
    with pytest.raises(SettingsError) as setting_error:
        load(environ={variable: raw, "LANDINGPAD_DATA_DIR": str(tmp_path)})
    assert str(setting_error.value) == f"{variable}={raw!r}: {site_error.value}"


def test_setting_values_written_back_as_text_read_the_same(tmp_path):
    from landingpad.settings import as_environ

    config = load(environ={"LANDINGPAD_DATA_DIR": str(tmp_path)})
    assert load(environ=as_environ(config)) == config


RATE_CASES = [
    "10/minute", "6/minute;100/day", "300 per 3 hours", "5 per hour", "1/second,2/minute|3/day",
    "1 per 2 seconds", "1/minutes", "1/minutess", "1/fortnight", "", "x", "10", "10/",
    "/minute", " 5 / Minute ", "1/MINUTE;", "1/minute:;2/day", "1/minute;;2/day", "1 per0 hour",
    "1/0 hour", "1 PER 3 HOURS", "1perminute", "1/minute 2/day", "1/s", "2/ 7 days",
    "3/year;4/months", "-1/minute", "1.5/minute",
]


@pytest.mark.parametrize("raw", RATE_CASES)
def test_rates_are_read_as_the_limits_library_reads_them(raw):
    """values.parse_rates checks a rate without importing limits; the limiter's items come
    from it too, so it must accept and read exactly what limits.parse_many does. The
    CA's limits (tls.queue) are its first rate as a window: rate_window."""
    from datetime import timedelta

    from limits import parse_many

    try:
        items = parse_many(raw)
        expected = [(i.amount, i.multiples, i.GRANULARITY.name) for i in items]
        window = (items[0].amount, timedelta(seconds=items[0].get_expiry()))
    except ValueError:
        expected = window = None
    try:
        got = values.parse_rates(raw)
    except ValueError:
        got = None
    assert got == expected
    try:
        got_window = values.rate_window(raw)
    except ValueError:
        got_window = None
    assert got_window == window


def test_the_limiter_builds_the_same_items_as_limits():
    from limits import parse_many

    from landingpad.ratelimit import _parsed

    for raw in ("10/minute", "6/minute;100/day", "300 per 3 hours"):
        assert _parsed(raw) == tuple(parse_many(raw))
        assert ([item.get_expiry() for item in _parsed(raw)]
                == [item.get_expiry() for item in parse_many(raw)])


def test_checking_a_rate_setting_does_not_import_limits():
    """`domain add` reads the install settings: a set LANDINGPAD_SIGNUP_RATE must not cost
    the limits library's import (0.1-0.2 s)."""
    import subprocess
    import sys

    code = ("import sys; from landingpad.settings import load; "
            "c = load(environ={'LANDINGPAD_SIGNUP_RATE': '6/minute;100/day', "
            "'LANDINGPAD_PRIVACY_RATE': '5 per hour'}); assert c['SIGNUP_RATE'] != '10/minute'; "
            "print('limits' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
