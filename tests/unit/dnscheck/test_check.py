"""`landingpad dns check` against a real DNS server on loopback, one broken thing per test."""

import json
import re

import pytest

from landingpad.dnscheck import dmarc
from landingpad.mail import dkim
from tests.unit.dnscheck.conftest import SMTP_HOST, SMTP_V4, SMTP_V6, dkim_record


def verdicts(result) -> dict[str, dict[str, str]]:
    """{domain: {check: verdict}} from --json output."""
    data = json.loads(result.output)
    return {d["domain"]: {c["name"]: c["verdict"] for c in d["checks"]} for d in data["domains"]}


def check_of(result, domain: str, name: str) -> dict:
    [found] = [c for d in json.loads(result.output)["domains"] if d["domain"] == domain
               for c in d["checks"] if c["name"] == name]
    return found


def test_good_records_pass_every_check(zone, dns_check):
    result = dns_check()
    assert result.exit_code == 0, result.output
    assert "coffee.test: sends mail (the From domain of coffee.test): OK" in result.output
    assert "brand.example: sends mail (the From domain of owned.example, parked.test): OK" \
        in result.output
    assert "parked.test: sends no mail (site parked.test): OK" in result.output
    assert f'published: v=spf1 a:{SMTP_HOST} -all' in result.output
    assert "google-site-verification" not in result.output  # only the SPF record is shown
    assert "publish:" not in result.output  # nothing to add
    assert zone.zone.over_tcp == 1  # coffee.test's TXT records, too long for UDP
    as_json = verdicts(dns_check("--json"))
    assert as_json == {
        "coffee.test": {"dkim": "ok", "spf": "ok", "dmarc": "ok", "alignment": "ok"},
        "brand.example": {"dkim": "ok", "spf": "ok", "dmarc": "ok", "alignment": "ok"},
        "parked.test": {"mx": "ok", "spf": "ok", "dmarc": "ok"},
        "owned.example": {"mail": "skip"},
    }


def test_json_shape(zone, dns_check):
    result = dns_check("coffee.test", "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["ok"] is True
    [report] = data["domains"]
    assert report.keys() == {"domain", "role", "sites", "checks", "verdict"}
    assert (report["domain"], report["role"], report["sites"], report["verdict"]) == \
        ("coffee.test", "sending", ["coffee.test"], "ok")
    spf = report["checks"][1]
    assert spf.keys() == {"name", "verdict", "record", "detail", "published", "expected"}
    assert spf["published"] == [f"v=spf1 a:{SMTP_HOST} -all"] and spf["expected"] == ""
    assert SMTP_V4 in spf["detail"] and SMTP_V6 in spf["detail"]
    assert "DNS look-ups" in spf["detail"]


def test_one_domain_at_a_time_and_the_failing_one_sets_the_exit_status(zone, dns_check):
    zone(parked_spf='parked.test. IN TXT "v=spf1 ~all"')
    assert dns_check("coffee.test").exit_code == 0
    bad = dns_check("parked.test", "--json")
    assert bad.exit_code == 1 and json.loads(bad.output)["ok"] is False
    assert verdicts(bad) == {"parked.test": {"mx": "ok", "spf": "fail", "dmarc": "ok"}}
    assert check_of(bad, "parked.test", "spf")["expected"] == 'parked.test. IN TXT "v=spf1 -all"'


def test_a_missing_dkim_record_fails_and_prints_the_one_dkim_show_prints(zone, dns_check, data):
    zone(coffee_dkim=None)
    result = dns_check("coffee.test")
    assert result.exit_code == 1
    record = dkim.txt_record(dkim.key_path(data / "dkim", "coffee.test"), "coffee.test")
    assert "[FAIL] dkim (landingpad._domainkey.coffee.test)" in result.output
    assert f"publish:   {record}" in result.output


def test_no_dkim_key_at_all_says_to_generate_one(zone, dns_check, data):
    dkim.key_path(data / "dkim", "coffee.test").unlink()
    result = dns_check("coffee.test", "--json")
    assert result.exit_code == 1
    detail = check_of(result, "coffee.test", "dkim")["detail"]
    assert "landingpad dkim generate coffee.test" in detail
    # Unsigned mail can still pass DMARC on SPF, but only just.
    assert check_of(result, "coffee.test", "alignment")["verdict"] == "warn"


def test_another_key_published_fails(zone, dns_check, keys):
    zone(coffee_dkim=dkim_record(keys[1], "coffee.test"))
    check = check_of(dns_check("coffee.test", "--json"), "coffee.test", "dkim")
    assert check["verdict"] == "fail" and "not the one landingpad signs with" in check["detail"]
    assert check["expected"] == dkim_record(keys[0], "coffee.test")


def test_a_revoked_key_fails(zone, dns_check):
    zone(coffee_dkim='landingpad._domainkey.coffee.test. IN TXT "v=DKIM1; k=rsa; p="')
    check = check_of(dns_check("coffee.test", "--json"), "coffee.test", "dkim")
    assert check["verdict"] == "fail" and "revokes" in check["detail"]


def test_spf_that_does_not_cover_the_smtp_host_fails_with_the_record_to_publish(zone, dns_check):
    zone(coffee_spf='coffee.test. IN TXT "v=spf1 ip4:198.51.100.0/24 ~all"')
    result = dns_check("coffee.test", "--json")
    check = check_of(result, "coffee.test", "spf")
    assert result.exit_code == 1 and check["verdict"] == "fail"
    assert "softfail" in check["detail"] and SMTP_V4 in check["detail"]
    assert check["expected"] == (f'coffee.test. IN TXT "v=spf1 ip4:{SMTP_V4} ip6:{SMTP_V6} '
                                 'ip4:198.51.100.0/24 ~all"')


def test_no_spf_record_fails(zone, dns_check):
    zone(coffee_spf=None)
    check = check_of(dns_check("coffee.test", "--json"), "coffee.test", "spf")
    assert check["verdict"] == "fail" and check["published"] == []
    assert check["expected"] == f'coffee.test. IN TXT "v=spf1 ip4:{SMTP_V4} ip6:{SMTP_V6} -all"'


def test_an_include_and_redirect_chain_is_followed(zone, dns_check):
    check = check_of(dns_check("brand.example", "--json"), "brand.example", "spf")
    assert check["verdict"] == "ok"
    # Both pass through the include (one through its redirect), after a void mx for IPv6.
    assert f"{SMTP_V4}: include:_spf.brand.example in brand.example's record" in check["detail"]
    assert f"{SMTP_V6}: include:_spf.brand.example in brand.example's record" in check["detail"]
    assert "3 of 10 DNS look-ups" in check["detail"]


def test_more_than_ten_lookups_is_a_broken_record(zone, dns_check):
    chain = "\n".join(f'l{i}.brand.example. IN TXT "v=spf1 include:l{i + 1}.brand.example"'
                      for i in range(11))
    zone(brand_spf='brand.example. IN TXT "v=spf1 include:l0.brand.example -all"\n' + chain
         + '\nl11.brand.example. IN TXT "v=spf1 ip4:192.0.2.25 -all"')
    check = check_of(dns_check("brand.example", "--json"), "brand.example", "spf")
    assert check["verdict"] == "fail" and "more than 10 DNS look-ups" in check["detail"]


@pytest.mark.parametrize(("record", "verdict", "words"), [
    (None, "fail", "No DMARC record at _dmarc.coffee.test"),
    ('"v=DMARC1; p=none"', "ok", "Policy none"),
    ('"v=DMARC1; p=maybe"', "fail", "p=maybe is not one of none, quarantine, reject"),
    ('"p=none; v=DMARC1"', "fail", "No DMARC record"),  # not a DMARC record: ignored
    ('"v=DMARC1; p=none" \n_dmarc.coffee.test. IN TXT "v=DMARC1; p=reject"', "fail",
     "2 DMARC records"),
])
def test_dmarc(zone, dns_check, record, verdict, words):
    zone(coffee_dmarc=record and f"_dmarc.coffee.test. IN TXT {record}")
    result = dns_check("coffee.test", "--json")
    check = check_of(result, "coffee.test", "dmarc")
    assert check["verdict"] == verdict and words in check["detail"], check
    assert result.exit_code == (0 if verdict == "ok" else 1)
    if verdict == "fail":
        assert check["expected"] == '_dmarc.coffee.test. IN TXT "v=DMARC1; p=none"'


@pytest.mark.parametrize(("record", "words"), [
    ("v=DMARC1; rua=mailto:d@coffee.test", "no p= (policy) tag"),
    ("v=DMARC1; p=none; p=reject", "appears twice"),
    ("v=DMARC1; p=none; rua=https://example.com/", "is not a mailto: address"),
    ("v=DMARC1; p=none; pct=150", "pct=150"),
    ("v=DMARC1; p=none; adkim=x", "adkim=x is not r or s"),
    ("v=DMARC1; p=none; sp=all", "sp=all is not one of"),
    ("v=DMARC1; p=none; junk", "'junk' is not a tag=value pair"),
    ("v=dmarc1; p=none", "must start with v=DMARC1"),
])
def test_a_malformed_dmarc_record_says_what_is_wrong(record, words):
    with pytest.raises(dmarc.MalformedDmarc, match=re.escape(words)):
        dmarc.parse(record)


def test_a_dmarc_record_is_read_tag_by_tag():
    assert dmarc.parse(" v=DMARC1 ;p = Reject; sp=none; pct=50; rua=mailto:a@x.example,"
                       "mailto:b@y.example; ") == {
        "v": "DMARC1", "p": "Reject", "sp": "none", "pct": "50",
        "rua": "mailto:a@x.example,mailto:b@y.example"}


def test_a_subdomain_falls_back_to_the_organisational_domains_dmarc(zone, dns_check, data):
    (data / "sites.toml").write_text('[sites."news.coffee.test"]\n')
    dkim.generate(data / "dkim", "news.coffee.test")
    zone(coffee_dmarc='_dmarc.coffee.test. IN TXT "v=DMARC1; p=none; sp=quarantine"')
    check = check_of(dns_check("news.coffee.test", "--json"), "news.coffee.test", "dmarc")
    assert check["verdict"] == "ok"
    assert check["detail"].startswith("Policy quarantine (the one at _dmarc.coffee.test applies)")


def test_a_domain_that_sends_no_mail_must_say_so(zone, dns_check):
    zone(parked_mx="parked.test. IN MX 10 mail.parked.test.",
         parked_spf='parked.test. IN TXT "v=spf1 include:_spf.brand.example -all"',
         parked_dmarc='_dmarc.parked.test. IN TXT "v=DMARC1; p=quarantine"')
    result = dns_check("parked.test")
    assert result.exit_code == 1
    out = result.output
    assert "[FAIL] mx (parked.test)" in out and "published: 10 mail.parked.test" in out
    assert "publish:   parked.test. IN MX 0 ." in out
    assert 'publish:   parked.test. IN TXT "v=spf1 -all"' in out
    assert "The policy is quarantine" in out
    assert 'publish:   _dmarc.parked.test. IN TXT "v=DMARC1; p=reject"' in out


def test_no_mx_at_all_is_not_a_null_mx(zone, dns_check):
    zone(parked_mx=None)
    check = check_of(dns_check("parked.test", "--json"), "parked.test", "mx")
    assert check["verdict"] == "fail" and "No MX record" in check["detail"]


def test_a_return_path_domain_that_does_not_align_is_a_warning(zone, dns_check, keys):
    zone(other='bounces.other.example. IN TXT "v=spf1 ip4:192.0.2.25 ip6:2001:db8::25 -all"')
    result = dns_check("coffee.test", "--json", LANDINGPAD_BOUNCE_DOMAIN="bounces.other.example")
    assert result.exit_code == 0  # DMARC passes on DKIM
    spf, alignment = (check_of(result, "coffee.test", n) for n in ("spf", "alignment"))
    assert spf["verdict"] == "ok" and spf["record"] == "bounces.other.example"
    assert alignment["verdict"] == "warn"
    assert alignment["published"] == ["From: coffee.test", "DKIM d=coffee.test",
                                      "Return-Path: bounces.other.example"]


def test_a_bounce_subdomain_aligns_relaxed_but_not_strict(zone, dns_check):
    zone(bounces='bounces.coffee.test. IN TXT "v=spf1 a:smtp.brand.example -all"')
    relaxed = dns_check("coffee.test", "--json", LANDINGPAD_BOUNCE_DOMAIN="bounces.coffee.test")
    assert check_of(relaxed, "coffee.test", "alignment")["verdict"] == "ok"
    zone(bounces='bounces.coffee.test. IN TXT "v=spf1 a:smtp.brand.example -all"',
         coffee_dmarc='_dmarc.coffee.test. IN TXT "v=DMARC1; p=none; aspf=s"')
    strict = dns_check("coffee.test", "--json", LANDINGPAD_BOUNCE_DOMAIN="bounces.coffee.test")
    assert check_of(strict, "coffee.test", "alignment")["verdict"] == "warn"


def test_nothing_aligned_fails(zone, dns_check, data):
    dkim.key_path(data / "dkim", "coffee.test").unlink()
    result = dns_check("coffee.test", "--json", LANDINGPAD_BOUNCE_DOMAIN="bounces.other.example")
    check = check_of(result, "coffee.test", "alignment")
    assert check["verdict"] == "fail" and "DMARC fails for every message" in check["detail"]


def test_a_dns_server_failure_is_reported_as_such_not_as_missing(zone, dns_check):
    zone(servfail=("_dmarc.coffee.test",))
    result = dns_check("coffee.test")
    assert result.exit_code == 1
    assert "[ERROR] dmarc (_dmarc.coffee.test)" in result.output
    assert "SERVFAIL" in result.output and "No DMARC record" not in result.output


def test_a_dns_server_that_does_not_answer_is_a_timeout(zone, dns_check, monkeypatch):
    monkeypatch.setattr("landingpad.dnscheck.lookup.LIFETIME", 0.3)
    zone(silent=("coffee.test",))
    result = dns_check("coffee.test", "--json")
    check = check_of(result, "coffee.test", "spf")
    assert result.exit_code == 1
    assert check["verdict"] == "error" and "no answer from" in check["detail"]
    assert "in time" in check["detail"]
    assert check_of(result, "coffee.test", "dkim")["verdict"] == "ok"  # other names still answer


def test_a_dns_server_that_is_down_costs_two_timeouts_not_one_per_name(zone, dns_check,
                                                                        monkeypatch):
    monkeypatch.setattr("landingpad.dnscheck.lookup.LIFETIME", 0.3)
    names = ("landingpad._domainkey.coffee.test", "coffee.test", "_dmarc.coffee.test", SMTP_HOST)
    zone(silent=names)
    result = dns_check("coffee.test", "--json")
    assert result.exit_code == 1
    assert [check_of(result, "coffee.test", n)["verdict"] for n in ("dkim", "spf", "dmarc")] \
        == ["error"] * 3
    assert "not asked" in check_of(result, "coffee.test", "spf")["detail"]  # the third
    assert len(zone.zone.queries) <= 4  # two look-ups, each tried at most twice


def test_control_characters_in_a_record_are_shown_escaped(zone, dns_check):
    zone(coffee_spf='coffee.test. IN TXT "v=spf1 \\033[2J\\007 -all"')  # octal, as dnslib reads it
    result = dns_check("coffee.test")
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "published: v=spf1 \\x1b[2J\\x07 -all" in result.output


def test_an_smtp_host_on_this_machine_cannot_be_judged(zone, dns_check):
    check = check_of(dns_check("coffee.test", "--json", LANDINGPAD_SMTP_HOST="localhost"),
                     "coffee.test", "spf")
    assert check["verdict"] == "warn" and "on this machine" in check["detail"]


@pytest.mark.parametrize(("args", "env", "code", "words"), [
    (["nowhere.test"], {}, 2, "nowhere.test is neither a site in the sites file nor"),
    (["bad host!"], {}, 2, "Invalid value for DOMAIN: 'bad host!'"),
    ([], {"LANDINGPAD_DNS_SERVER": "dns.example:53"}, 1,
     "LANDINGPAD_DNS_SERVER='dns.example:53': must be a resolver's IP:port"),
    ([], {"LANDINGPAD_BOUNCE_DOMAIN": "not a domain"}, 1, "LANDINGPAD_BOUNCE_DOMAIN"),
])
def test_bad_input_gets_a_clear_error(zone, dns_check, args, env, code, words):
    result = dns_check(*args, **env)
    assert result.exit_code == code and words in result.output, result.output
    assert zone.zone.queries == []  # nothing was looked up
