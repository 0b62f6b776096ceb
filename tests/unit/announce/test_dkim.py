import re

import dkim

from landingpad.announce import send_announcement
from tests.unit.mail.zone import resolver as dns_from  # the record as DNS holds it


def test_signed_mail_verifies_and_covers_the_unsubscribe_headers(runner, smtp_app, sink,
                                                                   add_signup, announcement):
    result = runner("dkim", "generate", "coffee.test")
    assert result.exit_code == 0
    record = result.output.splitlines()[-1]
    assert record.startswith("landingpad._domainkey.coffee.test. IN TXT \"v=DKIM1; k=rsa; p=")
    assert runner("dkim", "show", "coffee.test").output.strip() == record
    assert runner("dkim", "generate", "coffee.test").exit_code == 1  # never overwritten

    add_signup("alice@example.com")
    send_announcement(smtp_app, announcement())
    [raw] = sink.handler.raw
    assert dkim.verify(raw, dnsfunc=dns_from(record))
    signature = sink.handler.messages[0]["DKIM-Signature"]
    signed = {h.strip().lower() for h in re.search(r"h=([^;]+)", signature).group(1).split(":")}
    assert {"from", "subject", "list-unsubscribe", "list-unsubscribe-post"} <= signed
    # Tampering with a signed header breaks the signature.
    assert not dkim.verify(raw.replace(b"Subject: We launched", b"Subject: We lunched"),
                           dnsfunc=dns_from(record))


def test_without_a_key_mail_is_not_signed(smtp_app, sink, add_signup, announcement):
    add_signup("bob@example.com")
    send_announcement(smtp_app, announcement())
    assert sink.handler.messages[0]["DKIM-Signature"] is None
