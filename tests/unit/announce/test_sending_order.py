"""The `sending` commit goes to disk while the envelope (MAIL, RCPT, DATA) is exchanged,
and the message itself leaves only once it is there: at most once, as before."""

import pytest
import sqlalchemy as sa

from landingpad.announce import send_announcement
from landingpad.storage import session_factory
from landingpad.storage.engine import make_engine


def test_every_message_reaches_the_server_after_its_sending_commit(smtp_app, sink, add_signup,
                                                                   announcement):
    for i in range(6):
        add_signup(f"r{i}@example.com")
    ident = announcement()
    # What another connection sees when the server takes each message: its row committed.
    seen = []
    observer = make_engine(smtp_app.config["DATABASE_URL"])
    original = sink.handler.handle_DATA

    async def handle_data(server, session, envelope):
        with observer.connect() as conn:
            seen.append(conn.execute(sa.text(
                "SELECT state FROM recipients WHERE email = :e"),
                {"e": envelope.rcpt_tos[0]}).scalar())
        return await original(server, session, envelope)

    sink.handler.handle_DATA = handle_data
    try:
        assert send_announcement(smtp_app, ident)["sent"] == 6
    finally:
        observer.dispose()
    assert seen == ["sending"] * 6


def test_a_failed_sending_commit_sends_nothing(smtp_app, sink, add_signup, announcement):
    add_signup("a@example.com")
    ident = announcement()
    engine = session_factory(smtp_app).kw["bind"]

    def full_disk(conn, cursor, statement, parameters, context, executemany):
        if statement.lower().startswith("update recipients") and "sending" in str(parameters):
            raise OSError("No space left on device")

    sa.event.listen(engine, "before_cursor_execute", full_disk)
    try:
        with pytest.raises(OSError, match="No space left"):
            send_announcement(smtp_app, ident)
    finally:
        sa.event.remove(engine, "before_cursor_execute", full_disk)
    assert sink.handler.messages == []  # the envelope went out, the message never did
    # Nothing was marked unknown: sent once now.
    assert send_announcement(smtp_app, ident)["sent"] == 1
    assert len(sink.handler.messages) == 1
