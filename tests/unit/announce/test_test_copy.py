"""The owner's test copy is the recipients' message: same headers, footer and signature."""

import re
from email import policy
from email.parser import BytesParser

from landingpad.announce import send_announcement
from landingpad.announce.compose import send_test_copy
from landingpad.storage import session_factory
from landingpad.storage.models import Announcement


def parse(raw: bytes):
    return BytesParser(policy=policy.default).parsebytes(raw)


def dkim_tags(message) -> dict[str, str]:
    value = re.sub(r"\s+", "", str(message["DKIM-Signature"]))
    return dict(part.split("=", 1) for part in value.split(";") if part)


def test_the_test_copy_has_the_headers_footer_and_signature_recipients_get(
        runner, smtp_app, sink, add_signup, announcement):
    assert runner("dkim", "generate", "coffee.test").exit_code == 0
    add_signup("fan@example.com")
    ident = announcement(body="We are **open**.")
    with smtp_app.app_context(), session_factory(smtp_app)() as session:
        send_test_copy(session.get(Announcement, ident), "owner@example.com")
    send_announcement(smtp_app, ident)
    test, real = (parse(raw) for raw in sink.handler.raw)
    assert str(test["To"]) == "owner@example.com" and str(real["To"]) == "fan@example.com"

    assert sorted(test.keys()) == sorted(real.keys())
    assert "List-Unsubscribe" in test and "DKIM-Signature" in test
    for header in ("From", "Reply-To", "List-Unsubscribe-Post", "Content-Type",
                   "MIME-Version"):
        assert str(test[header]).split(";")[0] == str(real[header]).split(";")[0], header
    assert str(test["Subject"]) == f"[TEST] {real['Subject']}"
    unsubscribe = "<https://coffee.test/unsubscribe/"
    assert str(test["List-Unsubscribe"]).startswith(unsubscribe)
    assert str(real["List-Unsubscribe"]).startswith(unsubscribe)
    # Signed by the same key, over the same headers.
    a, b = dkim_tags(test), dkim_tags(real)
    assert (a["d"], a["s"], a["h"]) == (b["d"], b["s"], b["h"]) == (
        "coffee.test", "landingpad", b["h"])

    def footer(message, kind):
        body = message.get_body((kind,)).get_content()
        return re.sub(r"/unsubscribe/[^\s\"<]+", "/unsubscribe/TOKEN", body)

    for kind in ("plain", "html"):
        assert footer(test, kind) == footer(real, kind), kind
    assert "Unsubscribe: https://coffee.test/unsubscribe/" in footer(test, "plain")
