"""The SPF evaluator (RFC 7208 check_host) against zones on the loopback DNS server."""

import pytest

from landingpad.dnscheck.lookup import Lookup
from landingpad.dnscheck.spf import SpfResult, check_host


@pytest.fixture
def spf(dns_zone, dns_server):
    """spf(zone_text, ip, domain="s.example") -> SpfOutcome."""
    def evaluate(text: str, ip: str, domain: str = "s.example", **zone):
        dns_zone.set(text, **zone)
        return check_host(Lookup(dns_server.address, lifetime=0.5), ip, domain)
    return evaluate


@pytest.mark.parametrize(("record", "ip", "result"), [
    ("v=spf1 ip4:192.0.2.0/24 -all", "192.0.2.9", SpfResult.PASS),
    ("v=spf1 ip4:192.0.2.0/24 -all", "198.51.100.1", SpfResult.FAIL),
    ("v=spf1 ip4:192.0.2.0/24 ~all", "198.51.100.1", SpfResult.SOFTFAIL),
    ("v=spf1 ip4:192.0.2.0/24", "198.51.100.1", SpfResult.NEUTRAL),
    ("v=spf1 ?ip4:192.0.2.9 -all", "192.0.2.9", SpfResult.NEUTRAL),
    ("v=spf1 -ip4:192.0.2.9 +all", "192.0.2.9", SpfResult.FAIL),
    ("v=spf1 ip6:2001:db8::/32 -all", "2001:db8::1", SpfResult.PASS),
    ("v=spf1 ip6:2001:db8::/32 -all", "192.0.2.9", SpfResult.FAIL),
    ("v=spf1 a/24 -all", "192.0.2.200", SpfResult.PASS),  # s.example A 192.0.2.1
    ("v=spf1 a -all", "192.0.2.200", SpfResult.FAIL),
    ("v=spf1 mx//64 -all", "2001:db8:0:1::99", SpfResult.PASS),  # mx AAAA 2001:db8:0:1::1
    ("v=spf1 exists:%{i}.ok.s.example -all", "192.0.2.77", SpfResult.PASS),
    ("v=spf1 exists:%{ir}.%{v}.ok.s.example -all", "192.0.2.78", SpfResult.PASS),
    ("v=spf1 exists:%{d2}.ok.s.example -all", "192.0.2.79", SpfResult.FAIL),
    ("v=spf1 ptr -all", "192.0.2.1", SpfResult.FAIL),  # counted, never matched
    ("v=spf1 ip4:192.0.2.0/33 -all", "192.0.2.1", SpfResult.PERMERROR),
    ("v=spf1 ip4:2001:db8::1 -all", "192.0.2.1", SpfResult.PERMERROR),
    ("v=spf1 frobnicate -all", "192.0.2.1", SpfResult.PERMERROR),
    ("v=spf1 include -all", "192.0.2.1", SpfResult.PERMERROR),
    ("v=spf1 exists:%{z}.x -all", "192.0.2.1", SpfResult.PERMERROR),
    ("v=spf1 include:none.s.example -all", "192.0.2.1", SpfResult.PERMERROR),
    ("v=spf1 redirect=none.s.example", "192.0.2.1", SpfResult.PERMERROR),
    ("v=spf1 unknown-modifier=x exp=explain.s.example ip4:192.0.2.1", "192.0.2.1",
     SpfResult.PASS),
])
def test_mechanisms_qualifiers_and_macros(spf, record, ip, result):
    zone = (f's.example. IN TXT "{record}"\n'
            "s.example. IN A 192.0.2.1\n"
            "s.example. IN MX 5 mx.s.example.\n"
            "mx.s.example. IN AAAA 2001:db8:0:1::1\n"
            "192.0.2.77.ok.s.example. IN A 127.0.0.2\n"
            "78.2.0.192.in-addr.ok.s.example. IN A 127.0.0.2\n"
            "none.s.example. IN TXT \"not spf\"\n")
    outcome = spf(zone, ip)
    assert outcome.result == result, outcome


def test_no_record_is_none_and_two_are_an_error(spf):
    assert spf("", "192.0.2.1").result == SpfResult.NONE
    two = spf('s.example. IN TXT "v=spf1 -all"\ns.example. IN TXT "v=spf1 +all"', "192.0.2.1")
    assert two.result == SpfResult.PERMERROR and "2 SPF records" in two.reason


def test_more_than_two_void_lookups_is_an_error(spf):
    outcome = spf('s.example. IN TXT "v=spf1 a:n1.s.example a:n2.s.example a:n3.s.example '
                  'ip4:192.0.2.1 -all"', "192.0.2.1")
    assert outcome.result == SpfResult.PERMERROR and "found nothing" in outcome.reason


def test_an_include_loop_stops_at_the_lookup_limit(spf):
    outcome = spf('s.example. IN TXT "v=spf1 include:s.example -all"', "192.0.2.1")
    assert outcome.result == SpfResult.PERMERROR and outcome.lookups == 11


def test_a_server_failure_is_a_temporary_error(spf):
    outcome = spf('s.example. IN TXT "v=spf1 include:bad.s.example -all"', "192.0.2.1",
                  servfail=("bad.s.example",))
    assert outcome.result == SpfResult.TEMPERROR and "SERVFAIL" in outcome.reason
