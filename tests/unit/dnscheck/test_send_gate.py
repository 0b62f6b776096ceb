"""`announce send` checks the DKIM and DMARC records of the sites' From domains first."""

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from landingpad.cli import main
from landingpad.storage.engine import make_engine
from landingpad.storage.signups import record_signup


@pytest.fixture
def landingpad(env, database_url):
    def run(*args: str):
        return CliRunner().invoke(main, list(args), env={**env, "DATABASE_URL": database_url},
                                  catch_exceptions=False)
    return run


@pytest.fixture
def announcement(landingpad, database_url, tmp_path):
    """make(subject) -> the id of an announcement to coffee.test's one sign-up."""
    engine = make_engine(database_url)
    with sa.orm.Session(engine) as session:
        record_signup(session, site="coffee.test", email="fan@example.com", interests=[],
                      consent_version="v", consent_text="t")
    engine.dispose()
    body = tmp_path / "body.md"
    body.write_text("Open!")
    return lambda subject: landingpad("announce", "create", "--site", "coffee.test", "--subject",
                                      subject, "--body-file", str(body)).output.strip()


def test_announce_send_refuses_while_dkim_or_dmarc_fails_and_goes_with_force(
        zone, landingpad, announcement, data):
    ident = announcement("Hi")
    zone(coffee_dkim=None, coffee_dmarc='_dmarc.coffee.test. IN TXT "v=DMARC1; p=sometimes"')
    refused = landingpad("announce", "send", ident, "--no-progress")
    assert refused.exit_code == 1
    assert "DKIM record landingpad._domainkey.coffee.test: No DKIM record" in refused.output
    assert "DMARC record _dmarc.coffee.test: The DMARC record is malformed" in refused.output
    assert "or send anyway with --force" in refused.output
    assert not list((data / "mail").glob("*.eml"))
    assert landingpad("announce", "status", ident).output.startswith("pending 0\nclaimed 0")

    zone()  # every record right: it goes without --force
    sent = landingpad("announce", "send", ident, "--no-progress")
    assert sent.exit_code == 0 and "sent 1" in sent.output, sent.output

    ident = announcement("Again")
    zone(servfail=("_dmarc.coffee.test",))  # DNS can't tell: refused too, and says why
    refused = landingpad("announce", "send", ident, "--no-progress")
    assert refused.exit_code == 1 and "SERVFAIL" in refused.output
    forced = landingpad("announce", "send", ident, "--no-progress", "--force")
    assert forced.exit_code == 0 and "sent 1" in forced.output
