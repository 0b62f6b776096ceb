import pytest
import sqlalchemy as sa

from landingpad import create_app
from landingpad.storage import session_factory
from landingpad.storage.models import Announcement
from landingpad.storage.signups import record_signup
from landingpad.storage.types import utcnow
from tests.smtp_sink import Sink


@pytest.fixture
def sink():
    with Sink() as running:
        yield running


@pytest.fixture
def smtp_app(app_config, sink):
    app = create_app({**app_config, "MAIL_TRANSPORT": "smtp", "SMTP_HOST": "127.0.0.1",
                      "SMTP_PORT": sink.port, "SMTP_TIMEOUT": 5.0})
    yield app
    app.extensions["landingpad.db"].dispose()


@pytest.fixture
def add_signup(smtp_app):
    def add(email, site="coffee.test", interests=(), confirmed=False, unsubscribed=False):
        with session_factory(smtp_app)() as session:
            record_signup(session, site=site, email=email, interests=list(interests),
                          consent_version="v", consent_text="t")
            if confirmed or unsubscribed:
                session.execute(sa.text(
                    "UPDATE signups SET confirmed_at = :c, unsubscribed_at = :u "
                    "WHERE email = :e AND site = :s"),
                    {"c": utcnow().replace(tzinfo=None) if confirmed else None,
                     "u": utcnow().replace(tzinfo=None) if unsubscribed else None,
                     "e": email, "s": site})
                session.commit()
    return add


@pytest.fixture
def announcement(smtp_app, add_announcement):
    def make(sites=("coffee.test",), interest=None, body="Hello **there**."):
        return add_announcement(smtp_app, subject="We launched", body_markdown=body,
                                sites=list(sites), interest=interest)
    return make


@pytest.fixture
def session(app):
    """A session on the test app's database (no SMTP server needed)."""
    with session_factory(app)() as db:
        yield db


@pytest.fixture
def rows(app):
    """An announcement with one recipient row per address (state pending unless given);
    returns the announcement's id."""
    def make(*emails, states=None):
        from landingpad.storage.models import Recipient

        with session_factory(app)() as db:
            item = Announcement(subject="s", body_markdown="b", sites=["coffee.test"],
                                created_at=utcnow(), recipients_at=utcnow())
            db.add(item)
            db.flush()
            for email in emails:
                db.add(Recipient(announcement_id=item.id, email=email, site="coffee.test",
                                 state=(states or {}).get(email, "pending"), attempts=0))
            db.commit()
            return item.id
    return make
