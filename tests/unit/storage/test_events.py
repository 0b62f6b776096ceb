"""The event record: written in the transaction of the change, once per change; an
erasure leaves no address behind, in its own event or in earlier ones."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select

from landingpad.storage import get_engine, session_factory
from landingpad.storage.models import Event, Signup
from landingpad.storage.signups import store_signup
from landingpad.storage.suppression import address_hash


def store(app, email: str, **extra):
    with app.app_context():
        return store_signup(get_engine(app), site="coffee.test", email=email, interests=["Beans"],
                            consent_version="v1", consent_text="t",
                            address_hash=address_hash(app.config["SECRET_KEY"], email), **extra)


def events(app) -> list[Event]:
    with session_factory(app)() as session:
        return list(session.scalars(select(Event).order_by(Event.id)))


def test_a_new_sign_up_records_one_event_and_a_repeat_none(app):
    first = store(app, "a@example.com", double_optin=True)
    again = store(app, "a@example.com")
    assert first.created and not again.created and first.id == again.id
    [created] = events(app)
    assert (created.kind, created.site, created.signup_id) == ("signup.created", "coffee.test",
                                                               first.id)
    assert created.payload["email"] == "a@example.com"
    assert created.payload["interests"] == ["Beans"]
    assert created.payload["awaiting_confirmation"] is True
    assert len(created.key) == 32 and not created.dispatched


def test_the_event_commits_with_the_sign_up_or_not_at_all(app):
    store(app, "warm@example.com")  # the consent text is stored: the hot path from now on
    engine = get_engine(app)

    def fail_events(conn, cursor, statement, *args):
        if statement.lower().startswith("insert into events"):
            raise RuntimeError("disk full")

    sa_event.listen(engine, "before_cursor_execute", fail_events)
    try:
        with pytest.raises(RuntimeError):
            store(app, "lost@example.com")
    finally:
        sa_event.remove(engine, "before_cursor_execute", fail_events)
    with session_factory(app)() as session:
        assert session.scalar(select(Signup).where(Signup.email == "lost@example.com")) is None
    assert [e.payload["email"] for e in events(app)] == ["warm@example.com"]


def test_confirm_and_unsubscribe_twice_record_one_event_each(app, client):
    from landingpad.web.links import confirm_token, unsubscribe_token

    stored = store(app, "b@example.com")
    with app.app_context():
        confirm = f"/confirm/{confirm_token(stored.id, stored.link_key)}"
        leave = f"/unsubscribe/{unsubscribe_token(stored.id, stored.link_key)}"
    for _ in range(2):
        assert client.post(confirm, headers={"Host": "coffee.test",
                                             "Origin": "https://coffee.test"}).status_code == 200
    for _ in range(2):
        assert client.post(leave, headers={"Host": "coffee.test"}).status_code == 200
    kinds = [e.kind for e in events(app)]
    assert kinds == ["signup.created", "signup.confirmed", "signup.unsubscribed"]
    assert events(app)[2].payload["unsubscribed_at"] is not None


def test_an_erasure_event_holds_no_address_and_earlier_events_go(app, data_dir):
    from landingpad.privacy.erasure import forget

    kept = store(app, "keep@example.com")
    gone = store(app, "gone@example.com")
    with app.app_context(), session_factory(app)() as session:
        forget(session, app.config["SECRET_KEY"], "gone@example.com", data_dir / "mail")
    found = events(app)
    assert [(e.kind, e.signup_id) for e in found] == [("signup.created", kept.id),
                                                      ("signup.erased", None)]
    erased = found[1]
    assert erased.payload.keys() == {"id", "site", "erased_at"} and erased.payload["id"] == gone.id
    text = json.dumps(erased.payload)
    assert "gone@" not in text and address_hash(app.config["SECRET_KEY"],
                                                "gone@example.com") not in text


def test_purge_deletes_old_events_and_tells_receivers_of_purged_sign_ups(app, runner):
    from datetime import timedelta

    from landingpad.storage.types import utcnow

    old = store(app, "old@example.com")
    store(app, "recent@example.com")
    with session_factory(app)() as session:
        row = session.get(Signup, old.id)
        row.unsubscribed_at = utcnow() - timedelta(days=40)  # past the retention time
        for item in session.scalars(select(Event)):
            if item.signup_id != old.id:
                item.created_at = utcnow() - timedelta(days=31)
        session.commit()
    dry = runner("purge", "--dry-run")
    assert "1 unsubscribed sign-ups (>30d)" in dry.output and "1 events (>30d)" in dry.output
    assert runner("purge").exit_code == 0
    # Both sign-up events are gone (one too old, one with its row); the purge is an erasure.
    [erased] = events(app)
    assert erased.kind == "signup.erased" and erased.payload["id"] == old.id


def test_erasing_from_the_data_page_records_an_erasure_without_address(app, client):
    from landingpad.web.links import access_token

    stored = store(app, "me@example.com")
    with app.app_context():
        link = f"/privacy/data/{access_token(stored.id, stored.link_key)}"
    response = client.post(link, data={"action": "erase"},
                           headers={"Host": "coffee.test", "Origin": "https://coffee.test"})
    assert response.status_code == 200
    [erased] = events(app)
    assert erased.kind == "signup.erased" and "me@" not in json.dumps(erased.payload)


def test_deleting_several_rows_records_an_erasure_each(app):
    from sqlalchemy import delete

    from landingpad.storage.events import erasable, record_erasure

    first, second = store(app, "x@example.com"), store(app, "y@example.com")
    with session_factory(app)() as session:  # as admin/views.delete_signups does
        chosen = erasable(session, Signup.id.in_([first.id, second.id]))
        record_erasure(session, chosen)
        session.execute(delete(Signup).where(Signup.id.in_([first.id, second.id])))
        session.commit()
    assert sorted((e.kind, e.payload["id"]) for e in events(app)) == [
        ("signup.erased", first.id), ("signup.erased", second.id)]
