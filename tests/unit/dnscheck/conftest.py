"""Sites, keys and a zone in which every record is right; each test breaks one thing."""

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from landingpad.mail import dkim

# coffee.test sends its own mail (From hello@coffee.test); parked.test's mail comes from
# brand.example, so it sends none; owned.example has the owner's own address at it.
SITES = """\
[sites."coffee.test"]
LANDING_TITLE = "Coffee"

[sites."parked.test"]
LANDING_FROM = "news@brand.example"

[sites."owned.example"]
LANDING_FROM = "news@brand.example"
LANDING_EMAIL = "me@owned.example"
"""
SMTP_HOST = "smtp.brand.example"
SMTP_V4, SMTP_V6 = "192.0.2.25", "2001:db8::25"


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    """A DKIM key for coffee.test and brand.example, and a spare one (made once: RSA is slow)."""
    folder = tmp_path_factory.mktemp("dkim")
    for domain in ("coffee.test", "brand.example"):
        dkim.generate(folder, domain)
    spare = tmp_path_factory.mktemp("spare")
    dkim.generate(spare, "coffee.test")
    return folder, spare


@pytest.fixture
def data(tmp_path, keys):
    path = tmp_path / "data"
    path.mkdir()
    (path / "sites.toml").write_text(SITES)
    shutil.copytree(keys[0], path / "dkim")
    return path


_records: dict[tuple[Path, str], str] = {}


def dkim_record(folder: Path, domain: str) -> str:
    """`dkim show`'s record (remembered: loading an RSA key takes a while)."""
    if (folder, domain) not in _records:
        _records[(folder, domain)] = dkim.txt_record(dkim.key_path(folder, domain), domain)
    return _records[(folder, domain)]


def good_records(keys) -> dict[str, str | None]:
    """Zone lines by what they are for; a test replaces or removes (None) some."""
    return {
        "smtp": f"{SMTP_HOST}. IN A {SMTP_V4}\n{SMTP_HOST}. IN AAAA {SMTP_V6}",
        "coffee dkim": dkim_record(keys[0], "coffee.test"),
        "coffee spf": f'coffee.test. IN TXT "v=spf1 a:{SMTP_HOST} -all"\n'
                      # With this, the answer is too long for UDP: it comes over TCP.
                      f'coffee.test. IN TXT "google-site-verification={"a" * 200}" "{"b" * 200}"',
        "coffee dmarc": '_dmarc.coffee.test. IN TXT "v=DMARC1; p=none; rua=mailto:d@coffee.test"',
        "brand dkim": dkim_record(keys[0], "brand.example"),
        "brand spf": 'brand.example. IN TXT "v=spf1 mx include:_spf.brand.example ~all"\n'
                     "brand.example. IN MX 10 mx.brand.example.\n"
                     "mx.brand.example. IN A 198.51.100.7\n"
                     '_spf.brand.example. IN TXT '
                     '"v=spf1 ip4:192.0.2.0/24 redirect=_v6.brand.example"\n'
                     '_v6.brand.example. IN TXT "v=spf1 ip6:2001:db8::/32 -all"',
        "brand dmarc": '_dmarc.brand.example. IN TXT "v=DMARC1; p=quarantine; adkim=r"',
        "parked mx": "parked.test. IN MX 0 .",
        "parked spf": 'parked.test. IN TXT "v=spf1 -all"',
        "parked dmarc": '_dmarc.parked.test. IN TXT "v=DMARC1; p=reject"',
    }


@pytest.fixture
def zone(dns_zone, keys):
    """publish(**changes): the good zone with some lines replaced or (None) removed."""
    def publish(servfail=(), silent=(), **changes):
        records = {**good_records(keys), **{k.replace("_", " "): v for k, v in changes.items()}}
        dns_zone.set("\n".join(v for v in records.values() if v), servfail, silent)
        return dns_zone
    publish(**{})
    publish.zone = dns_zone
    return publish


@pytest.fixture
def env(data, dns_server):
    return {"LANDINGPAD_DATA_DIR": str(data), "LANDINGPAD_SITES": "",
            "LANDINGPAD_DNS_SERVER": dns_server.address, "LANDINGPAD_SMTP_HOST": SMTP_HOST,
            "LANDINGPAD_BOUNCE_DOMAIN": "", "DATABASE_URL": "", "LANDINGPAD_SECRET_KEY": "x" * 32}


@pytest.fixture
def dns_check(env):
    """dns_check(*args, **env) -> click Result of `landingpad dns check ...`."""
    from landingpad.cli import main

    def invoke(*args: str, **more: str):
        return CliRunner().invoke(main, ["dns", "check", *args], env={**env, **more},
                                  catch_exceptions=False, prog_name="landingpad")
    return invoke
