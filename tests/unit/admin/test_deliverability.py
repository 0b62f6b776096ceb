"""The admin's Deliverability page and the send button's DKIM/DMARC check, against a DNS
server on loopback."""

import pytest

from landingpad.mail import dkim
from tests.unit.admin.conftest import ADMIN, csrf_token

H = {"Host": ADMIN}


@pytest.fixture
def app_config(app_config, dns_server, data_dir):
    dkim.generate(data_dir / "dkim", "coffee.test")  # bikes.test has none
    return {**app_config, "DNS_SERVER": dns_server.address, "SMTP_HOST": "192.0.2.25"}


@pytest.fixture
def published(dns_zone, data_dir):
    record = dkim.txt_record(dkim.key_path(data_dir / "dkim", "coffee.test"), "coffee.test")
    dns_zone.set(f'{record}\ncoffee.test. IN TXT "v=spf1 ip4:192.0.2.25 -all"\n'
                 '_dmarc.coffee.test. IN TXT "v=DMARC1; p=none"')
    return dns_zone


def test_the_page_shows_each_domains_checks_and_asks_dns_at_most_every_few_minutes(
        app, client, logged_in, published):
    assert app.test_client().get("/deliverability", headers=H).status_code == 302  # login
    page = logged_in.get("/deliverability", headers=H).get_data(as_text=True)
    assert "Deliverability" in page and "bikes.test" in page and "coffee.test" in page
    assert "The published key is the one mail is signed with." in page
    assert "landingpad dkim generate bikes.test" in page
    assert "v=DMARC1; p=none" in page
    assert len(published.queries) == 6  # TXT: 2 DKIM, 2 SPF, 2 DMARC (SMTP_HOST is an IP)
    published.set()  # everything gone: the page still shows what it found a moment ago
    again = logged_in.get("/deliverability?q=coffee", headers=H).get_data(as_text=True)
    assert "The published key is the one mail is signed with." in again
    assert "bikes.test" not in again.split("<h1>")[1].split("Filter")[1]
    assert published.queries == []  # from the cache


def test_the_send_button_refuses_while_dkim_fails_unless_forced(app, logged_in, published,
                                                                add_announcement, db):
    from landingpad.storage.models import Announcement

    ident = add_announcement(app, sites=["bikes.test"])
    token = csrf_token(logged_in, f"/announcements/{ident}")
    refused = logged_in.post(f"/announcements/{ident}/send",
                             data={"csrf_token": token, "confirm": "yes"}, headers=H,
                             follow_redirects=True)
    text = refused.get_data(as_text=True)
    assert "Not sent: DKIM record landingpad._domainkey.bikes.test" in text
    assert "Not sent: DMARC record _dmarc.bikes.test: No DMARC record" in text
    assert db.get(Announcement, ident).recipients_at is None  # no sender started
