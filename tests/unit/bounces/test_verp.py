"""The VERP envelope sender: on every mail with a bounce domain, unforgeable, compact."""

from __future__ import annotations

import pytest

from landingpad.bounces.mailbox import BounceSourceError, ImapTarget
from landingpad.mail.message import build_message
from landingpad.mail.outbox import get_outbox
from landingpad.mail.verp import make_token, read_token, token_of, verp_sender
from landingpad.sites import get_registry
from tests.conftest import TEST_SECRET
from tests.smtp_sink import Sink
from tests.unit.bounces.conftest import DOMAIN

OTHER_SECRET = "another-secret-" + "y" * 40


def test_a_token_names_its_row_or_address_and_nothing_else():
    for rid in (0, 1, 255, 256, 2**63 - 1):
        token = make_token(TEST_SECRET, recipient_id=rid)
        assert read_token(TEST_SECRET, token).recipient_id == rid
        assert read_token(TEST_SECRET, token.upper()).recipient_id == rid  # case folded
        assert read_token(OTHER_SECRET, token) is None  # another install's key
    token = read_token(TEST_SECRET, make_token(TEST_SECRET, email="Ann@Remote.test"))
    assert token.matches(TEST_SECRET, "ann@remote.test")
    assert not token.matches(TEST_SECRET, "bob@remote.test")
    good = make_token(TEST_SECRET, recipient_id=42)
    for forged in (good[:-2], good + "a", good.replace(good[3], "2" if good[3] != "2" else "3"),
                   "", "a" * 20, "!!!!!!!!!!", "é" * 12, good[:10] + "=" + good[11:]):
        assert read_token(TEST_SECRET, forged) is None


def test_the_verp_address_fits_a_local_part_and_reads_back():
    config = {"BOUNCE_DOMAIN": DOMAIN, "SECRET_KEY": TEST_SECRET}
    long = "x" * 64 + "@" + "y" * 63 + ".example"
    for address in (verp_sender(config, "from@coffee.test", recipient_id=2**63 - 1),
                    verp_sender(config, "from@coffee.test", email=long)):
        local, _, domain = address.rpartition("@")
        assert domain == DOMAIN and len(local) <= 64 and local.startswith("bounces+")
        assert read_token(TEST_SECRET, token_of(address.upper(), DOMAIN)) is not None
    assert verp_sender({"BOUNCE_DOMAIN": "", "SECRET_KEY": TEST_SECRET}, "from@coffee.test",
                       email="a@b.test") == "from@coffee.test"  # today's behaviour
    assert token_of("bounces+abc@elsewhere.test", DOMAIN) is None
    assert token_of("other+abc@" + DOMAIN, DOMAIN) is None


@pytest.mark.backends("sqlite")  # the envelope doesn't depend on the database
def test_every_mail_leaves_with_the_recipients_verp_envelope_sender(app_sending_to):
    with Sink() as sink:
        for bounce_domain in (DOMAIN, ""):
            app = app_sending_to(sink.port, BOUNCE_DOMAIN=bounce_domain)
            with app.app_context():
                site = get_registry(app).site_for_host("coffee.test")
                get_outbox(app).send(build_message(site, "ann@remote.test", "Confirm", "t",
                                                   "<p>t</p>", "<m1@coffee.test>"))
        (with_domain, _), (without, _) = sink.handler.envelopes
    token = read_token(TEST_SECRET, token_of(with_domain, DOMAIN))
    assert token.matches(TEST_SECRET, "ann@remote.test")
    assert without == site.from_address


def test_the_bounce_settings_refuse_what_cant_work_without_quoting_the_password():
    from landingpad import values
    from landingpad.settings import SettingsError, load

    assert values.imaps_url("imaps://u%40x.test:p%20w@imap.x.test:993/Bounces") \
        == "imaps://u%40x.test:p%20w@imap.x.test:993/Bounces"
    for bad in ("imap://u:pw-1234@h/INBOX", "imaps://h/INBOX", "imaps://u@h/INBOX",
                "imaps://u:pw-1234@h:99999/", "imaps://u:pw-1234@h/INBOX?x=1", "pw-1234"):
        with pytest.raises(SettingsError) as caught:
            load(environ={"LANDINGPAD_BOUNCE_IMAP_URL": bad})
        assert "pw-1234" not in str(caught.value) and "value not shown" in str(caught.value)


def test_the_mailbox_url_keeps_its_password_out_of_reprs_and_refuses_line_breaks():
    target = ImapTarget.from_url("imaps://bounces:pw-5678@imap.example.test/Bounces")
    assert target.folder == "Bounces" and "pw-5678" not in repr(target)
    for bad in ("imaps://u:pw@h/INBOX%0D%0AA1%20DELETE%20INBOX", "imaps://u:p%0Aw@h/INBOX",
                "imaps://u%00:pw@h/INBOX"):
        with pytest.raises(BounceSourceError, match="line break or NUL"):
            ImapTarget.from_url(bad)
