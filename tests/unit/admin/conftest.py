import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from landingpad import create_app
from landingpad.admin.accounts import create_user
from landingpad.storage import session_factory
from landingpad.storage.models import Signup
from landingpad.storage.types import utcnow
from landingpad.web.headers import ADMIN_ENTRANCE, ENTRANCE

ADMIN = "admin.test"
PASSWORD = "correct horse battery"
# What nginx's admin server block adds to every request it passes on (the admin door).
ADMIN_DOOR = {ENTRANCE: ADMIN_ENTRANCE}


class NginxClient(FlaskClient):
    """A test client that enters as behind the rendered nginx on one shared listener: a
    request whose Host nginx matches to the admin block's server_name (case-insensitive,
    port and trailing dot dropped) comes in through the admin door, all others through
    the public one. Tests of the door itself use a plain FlaskClient."""

    def run_wsgi_app(self, environ, buffered=False):
        host = environ.get("HTTP_HOST", "").rsplit(":", 1)[0].rstrip(".").lower()
        if host == ADMIN:
            environ.setdefault(ENTRANCE, ADMIN_ENTRANCE)
        return super().run_wsgi_app(environ, buffered=buffered)


@pytest.fixture
def app(app_config):
    app = create_app({**app_config, "ADMIN_HOST": ADMIN})
    app.test_client_class = NginxClient
    with session_factory(app)() as session:
        create_user(session, "owner@example.com", PASSWORD)
    yield app
    app.extensions["landingpad.db"].dispose()


def csrf_token(client, path="/login"):
    html = client.get(path, headers={"Host": ADMIN}).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


@pytest.fixture
def login(client):
    def do(email="owner@example.com", password=PASSWORD, **extra):
        data = {"email": email, "password": password, "csrf_token": csrf_token(client), **extra}
        return client.post("/login", data=data, headers={"Host": ADMIN})
    return do


@pytest.fixture
def logged_in(client, login):
    assert login().status_code == 302
    return client


@pytest.fixture
def signups(app):
    now = utcnow()
    rows = [
        Signup(site="coffee.test", email="alice@example.com", interests=["Beans"],
               consent_version="v", consented_at=now, created_at=now - timedelta(days=1),
               updated_at=now, confirmed_at=now),
        Signup(site="coffee.test", email="=cmd@example.com", interests=["Brewing gear", "Beans"],
               consent_version="v", consented_at=now, created_at=now - timedelta(days=10),
               updated_at=now),
        Signup(site="bikes.test", email="bob@example.com", interests=[], consent_version="v",
               consented_at=now, created_at=now, updated_at=now, unsubscribed_at=now),
    ]
    with session_factory(app)() as session:
        session.add_all(rows)
        session.commit()
        return {r.email: r.id for r in rows}
