import pytest
from sqlalchemy import select

from landingpad.announce import send_announcement
from landingpad.storage import session_factory
from landingpad.storage.models import Signup
from landingpad.web.links import unsubscribe_token


@pytest.fixture
def token(smtp_app, add_signup):
    add_signup("alice@example.com")
    with smtp_app.app_context(), session_factory(smtp_app)() as session:
        row = session.scalars(select(Signup)).one()
        return unsubscribe_token(row.id, row.link_key)


def unsubscribed(db):
    db.expire_all()
    return db.scalar(select(Signup.unsubscribed_at))


@pytest.fixture
def db(smtp_app):
    with session_factory(smtp_app)() as session:
        yield session


def test_get_shows_a_button_and_changes_nothing(smtp_app, token, db):
    response = smtp_app.test_client().get(f"/unsubscribe/{token}",
                                          headers={"Host": "coffee.test"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<form method="post">' in html and "alice@example.com" in html
    assert unsubscribed(db) is None


def test_one_click_post_without_cookie_or_csrf_is_idempotent(smtp_app, token, db):
    client = smtp_app.test_client()
    for _ in range(2):
        response = client.post(f"/unsubscribe/{token}", data="List-Unsubscribe=One-Click",
                               headers={"Host": "coffee.test",
                                        "Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code == 200 and "Location" not in response.headers
        assert "Set-Cookie" not in response.headers
        assert "unsubscribed" in response.get_data(as_text=True)
    first = unsubscribed(db)
    assert first is not None
    client.post(f"/unsubscribe/{token}", headers={"Host": "coffee.test"})
    assert unsubscribed(db) == first


@pytest.mark.parametrize("bad", ["MQ.forged", "x" * 300, "MQ", "bnVsbA.abc"])
def test_forged_tokens_are_404(smtp_app, token, db, bad):
    client = smtp_app.test_client()
    for method in ("GET", "POST"):
        assert client.open(f"/unsubscribe/{bad}", method=method,
                           headers={"Host": "coffee.test"}).status_code == 404
    assert unsubscribed(db) is None


def test_a_token_works_only_on_its_own_site(smtp_app, token, db):
    response = smtp_app.test_client().post(f"/unsubscribe/{token}",
                                           headers={"Host": "bikes.test"})
    assert response.status_code == 404 and unsubscribed(db) is None


def test_unsubscribed_address_gets_no_later_announcement(smtp_app, sink, token, add_signup,
                                                          announcement):
    add_signup("bob@example.com")
    smtp_app.test_client().post(f"/unsubscribe/{token}", headers={"Host": "coffee.test"})
    send_announcement(smtp_app, announcement())
    assert [str(m["To"]) for m in sink.handler.messages] == ["bob@example.com"]
