"""Properties that must hold for any input (hypothesis): normalisation, escaping, tokens."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

import pytest
from email_validator import EmailNotValidError
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from landingpad.mail.address import normalise_email
from landingpad.mail.message import build_message
from landingpad.signup.tokens import FormTokens, Verdict
from landingpad.sites import params
from landingpad.sites.host import InvalidHost, normalize_host
from landingpad.sites.site import build_site, parse_value
from landingpad.sites.sitesfile import SitesFileError, parse_sites
from landingpad.web import links

ANY_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=80)
HOSTILE = st.text(alphabet=st.sampled_from(list("aZ0.-:_ \t\r\n\x00$;{}\"'<>&%\\/@[]é\u202e")),
                  max_size=40)
fast = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@fast
@given(st.one_of(ANY_TEXT, HOSTILE))
def test_a_host_is_refused_or_canonical(raw):
    try:
        host = normalize_host(raw)
    except InvalidHost:
        return
    assert re.fullmatch(r"[a-z0-9.-]{1,253}", host)
    assert normalize_host(host) == host  # idempotent


@fast
@given(st.one_of(ANY_TEXT, HOSTILE, st.emails()))
def test_an_email_is_refused_or_safe_and_canonical(raw):
    try:
        address = normalise_email(raw)
    except EmailNotValidError:
        return
    assert len(address) <= 254 and address == address.lower()
    assert not set(address) & set("\r\n\x00<>,; \t")
    assert normalise_email(address) == address


@fast
@given(st.one_of(ANY_TEXT, HOSTILE))
def test_a_param_value_round_trips_and_cannot_break_nginx_syntax(value):
    encoded = params.encode(value)
    assert params.decode(encoded) == value
    assert not set(encoded) & set("\"\\$;{}\r\n\x00\t")


@fast
@given(title=st.one_of(ANY_TEXT, HOSTILE))
def test_a_hostile_title_cannot_break_the_sites_file_or_nginx_maps(title):
    from landingpad.deploy.render import render_maps

    text = '[sites."a.example"]\nLANDING_TITLE = ' + _toml_string(title) + "\n"
    try:
        config = parse_sites(text, Path("sites.toml"))
    except SitesFileError:
        return
    maps = render_maps(config)
    for ln in maps.splitlines():
        # Each map line is "key value;" with nothing after the terminating semicolon.
        if ln.strip() and not ln.strip().startswith(("#", "map", "}", "default",
                                                     "hostnames", "map_hash")):
            assert ln.rstrip().endswith(";") and ln.count(";") == 1, ln


def _toml_string(value: str) -> str:
    escaped = "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}"
                      if ord(c) < 0x10000 else f"\\U{ord(c):08x}" for c in value)
    return f'"{escaped}"'


@pytest.fixture
def page_client(app):
    return app.test_client()


@fast
@given(title=st.one_of(ANY_TEXT, HOSTILE,
                       st.sampled_from(["<script>alert(1)</script>", "\"><img src=x "
                                        "onerror=alert(1)>", "</title><script>x</script>"])))
def test_a_hostile_title_is_only_ever_text_in_the_page(page_client, title):
    title = f"Zq{title}qZ"  # markers, so the title can't match other text on the page
    try:
        assume(parse_value("LANDING_TITLE", title) == title and title.strip() == title)
    except ValueError:
        assume(False)
    assume(title and "SAFE" not in title)

    def page(value):
        environ = {"LANDING_DOMAIN": "coffee.test", "LANDING_ENCODING": "url",
                   "LANDING_TITLE": params.encode(value)}
        body = page_client.get("/", headers={"Host": "coffee.test"},
                               environ_base=environ).get_data(as_text=True)
        return re.sub(r'name="token" value="[^"]*"', "TOKEN", body)

    # The hostile page is the safe page with the title's escaped text in its place.
    assert page(title).replace(str(escape(title)), "ZqSAFEqZ") == page("ZqSAFEqZ")


@fast
@given(subject=st.one_of(ANY_TEXT, HOSTILE), title=st.one_of(ANY_TEXT, HOSTILE))
def test_mail_headers_cannot_be_injected(subject, title):
    try:
        site = build_site("coffee.test", [{
            "LANDING_TITLE": parse_value("LANDING_TITLE", title or "T"),
            "LANDING_EMAIL": parse_value("LANDING_EMAIL", "owner@coffee.test")}])
    except ValueError:
        return  # a title the settings refuse never reaches a message
    try:
        message = build_message(site, "a@example.com", subject or "S", "text", "<p>html</p>",
                                "<id@coffee.test>")
    except ValueError:
        return  # refused: that is fine too
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert sorted(set(parsed.keys()) - {"DKIM-Signature"}) == sorted(set(message.keys()))
    assert parsed["To"] == "a@example.com"
    assert "Bcc" not in parsed


@fast
@given(domain=st.from_regex(r"[a-z0-9-]{1,20}\.[a-z]{2,6}", fullmatch=True),
       age=st.floats(min_value=0, max_value=200_000, allow_nan=False))
def test_form_tokens_round_trip_and_tampering_fails(domain, age):
    tokens = FormTokens("s" * 64, min_fill_seconds=2.0, max_age_seconds=86400)
    now = 1_800_000_000.0
    token = tokens.issue(domain, now=now - age)
    verdict = tokens.check(domain, token, now=now)
    expected = (Verdict.TOO_FAST if age < 2.0 else Verdict.EXPIRED if age > 86400
                else Verdict.OK)
    assert verdict is expected
    assert tokens.check("other-" + domain, token, now=now) is Verdict.INVALID
    stamp, sig = token.split(".")
    flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    assert tokens.check(domain, f"{stamp}.{flipped}", now=now) is Verdict.INVALID


@fast
@given(signup_id=st.integers(min_value=1, max_value=2**62), key=st.text(max_size=40),
       junk=HOSTILE)
def test_link_tokens_round_trip_and_junk_is_refused(app, signup_id, key, junk):
    with app.app_context():
        for purpose, make in (("confirm", links.confirm_token),
                              ("unsubscribe", links.unsubscribe_token),
                              ("access", links.access_token)):
            token = make(signup_id, key)
            link = links.read_token(purpose, token)
            if len(token) > links.MAX_TOKEN:  # a key longer than any row's
                assert link is links.Refused.INVALID
                continue
            assert (link.signup_id, link.link_key) == (signup_id, key)
            read = lambda t, p=purpose: links.read_token(p, t)  # noqa: E731
            assert isinstance(read(junk), links.Refused) or junk == token
            # Flip the signature's first character. (Not the last: base64's unused low
            # bits there make some changes decode to the same signature bytes, which
            # is harmless: nothing new is signed.)
            payload, _, signature = token.rpartition(".")
            flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
            assert read(f"{payload}.{flipped}") is links.Refused.INVALID
            # A token of one purpose is nothing for another.
            other = "access" if purpose != "access" else "confirm"
            assert links.read_token(other, token) is links.Refused.INVALID
