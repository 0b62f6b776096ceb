"""Link tokens name one row: its id and its key; links from before keys existed are
honoured only for the rows that existed then."""

from datetime import timedelta

import pytest
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer

from landingpad.storage import session_factory
from landingpad.storage.models import Signup
from landingpad.storage.signups import link_key_of, record_signup
from landingpad.storage.types import utcnow
from landingpad.web.links import (
    Link,
    Refused,
    confirm_token,
    read_token,
    signup_for_token,
    unsubscribe_token,
)
from tests.conftest import TEST_SECRET

SITE = "coffee.test"


def add(app, address="me@example.com"):
    with session_factory(app)() as session:
        return record_signup(session, site=SITE, email=address, interests=[],
                             consent_version="v", consent_text="t")[0]


def old_style(purpose, signup_id):
    """A link as the previous release signed it: the id alone."""
    kind = URLSafeSerializer if purpose == "unsubscribe" else URLSafeTimedSerializer
    return kind(TEST_SECRET, salt=f"landingpad.{purpose}").dumps(signup_id)


def set_row(app, sid, **values):
    with session_factory(app)() as session:
        row = session.get(Signup, sid)
        for name, value in values.items():
            setattr(row, name, value)
        session.commit()


def lookup(app, purpose, token, site=SITE):
    with app.test_request_context(), session_factory(app)() as session:
        found = signup_for_token(session, purpose, token, site)
        return found.id if isinstance(found, Signup) else found


def test_every_row_gets_its_own_key_and_keeps_it(app):
    one, two = add(app), add(app, "two@example.com")
    with session_factory(app)() as session:
        keys = [link_key_of(session, one), link_key_of(session, two)]
        assert not session.get(Signup, one).legacy_links  # made by this release
    assert len(set(keys)) == 2 and all(len(k) == 32 for k in keys)
    assert add(app) == one  # signing up again updates the row...
    with session_factory(app)() as session:
        assert link_key_of(session, one) == keys[0]  # ...and its links stay valid


def test_a_token_reads_back_its_row_and_key(app):
    with app.app_context():
        link = read_token("confirm", confirm_token(7, "k" * 32))
        assert isinstance(link, Link) and (link.signup_id, link.link_key) == (7, "k" * 32)
        assert read_token("unsubscribe", unsubscribe_token(7, "k")).issued_at is None
        assert read_token("access", confirm_token(7, "k")) is Refused.INVALID  # another purpose
        # Genuine signatures over payloads no release makes are refused too.
        for payload in (True, "7", [7], [7, 8], ["7", "k"], {"id": 7}, None):
            forged = URLSafeTimedSerializer(TEST_SECRET, salt="landingpad.confirm")
            assert read_token("confirm", forged.dumps(payload)) is Refused.INVALID


def test_the_key_must_match_and_the_site_too(app):
    sid = add(app)
    with session_factory(app)() as session:
        key = link_key_of(session, sid)
    with app.app_context():
        good, bad = unsubscribe_token(sid, key), unsubscribe_token(sid, "0" * 32)
        odd = unsubscribe_token(sid, "é" * 32)  # not even ASCII: refused, no error
    assert lookup(app, "unsubscribe", good) == sid
    assert lookup(app, "unsubscribe", bad) is Refused.INVALID
    assert lookup(app, "unsubscribe", odd) is Refused.INVALID
    assert lookup(app, "unsubscribe", good, site="bikes.test") is Refused.INVALID


def test_an_old_id_only_link_works_only_for_a_row_from_before_the_upgrade(app):
    sid = add(app)
    token = old_style("unsubscribe", sid)
    assert lookup(app, "unsubscribe", token) is Refused.INVALID  # a row made by this release
    set_row(app, sid, legacy_links=True)
    assert lookup(app, "unsubscribe", token) == sid


def test_an_old_timed_link_never_reaches_a_row_made_after_it(app):
    sid = add(app)
    set_row(app, sid, legacy_links=True, created_at=utcnow() - timedelta(days=1))
    token = old_style("confirm", sid)
    assert lookup(app, "confirm", token) == sid
    # The same id on a row made after the link was signed: another person's row.
    set_row(app, sid, created_at=utcnow() + timedelta(minutes=5))
    assert lookup(app, "confirm", token) is Refused.INVALID


def test_expired_links_say_so_whatever_the_row(app):
    sid = add(app)
    with session_factory(app)() as session:
        key = link_key_of(session, sid)
    with app.app_context():
        token = confirm_token(sid, key)
    app.config["CONFIRM_MAX_AGE"] = -1
    assert lookup(app, "confirm", token) is Refused.EXPIRED


@pytest.mark.parametrize("junk", ["", "x" * 201, "MQ.abc", "bnVsbA.abc"])
def test_junk_is_nothing(app, junk):
    add(app)
    for purpose in ("confirm", "unsubscribe", "access"):
        assert lookup(app, purpose, junk) is Refused.INVALID
