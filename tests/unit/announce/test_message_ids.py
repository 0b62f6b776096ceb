"""Message-IDs: fixed per (announcement, recipient), never the same for two messages."""

from landingpad.announce.template import message_id
from landingpad.storage.models import Announcement


def test_the_same_ids_in_another_database_give_another_message_id():
    """A reinstall starts its ids at 1 again: the announcement's random key tells apart."""
    first, again = (Announcement(id=1, message_key=key) for key in ("a" * 32, "b" * 32))
    assert message_id(first, 1, "coffee.test") != message_id(again, 1, "coffee.test")
    assert message_id(first, 1, "coffee.test") == message_id(first, 1, "coffee.test")
    assert message_id(first, 1, "coffee.test") == f"<announce-1-1.{'a' * 32}@coffee.test>"


def test_an_announcement_from_before_the_key_keeps_its_message_ids():
    """Its messages already sent carry these: a resend must be countable as a duplicate."""
    assert message_id(Announcement(id=3, message_key=None), 9, "coffee.test") == \
        "<announce-3-9@coffee.test>"


def test_every_new_announcement_gets_its_own_key(app):
    from landingpad.storage import session_factory
    from landingpad.storage.types import utcnow

    with session_factory(app)() as session:
        items = [Announcement(subject="s", body_markdown="b", sites=["coffee.test"],
                              created_at=utcnow()) for _ in range(2)]
        session.add_all(items)
        session.commit()
        keys = {item.message_key for item in items}
    assert len(keys) == 2 and None not in keys
