import time

import pytest
from sqlalchemy import func, select

from landingpad.storage.models import Signup


@pytest.fixture
def token(app):
    """A valid form token for a domain, issued ``age`` seconds ago."""
    tokens = app.extensions["landingpad.tokens"]

    def make(domain="coffee.test", age=5.0):
        return tokens.issue(domain, now=time.time() - age)

    return make


@pytest.fixture
def post(client, token):
    """POST /signup like the browser form does; fields override the valid defaults."""

    def send(host="coffee.test", headers=None, **fields):
        data = {"email": "alice@example.com", "consent": "y", "token": token()}
        data.update(fields)
        data = {k: v for k, v in data.items() if v is not None}
        # buffered: the response is closed at once, so a mail sent after it (mail.outbox)
        # has left when this returns, as it has under uWSGI once the response is out.
        return client.post("/signup", data=data, headers={"Host": host, **(headers or {})},
                           buffered=True)

    return send


@pytest.fixture
def stored(db):
    def count():
        db.expire_all()
        return db.scalar(select(func.count()).select_from(Signup))

    return count
