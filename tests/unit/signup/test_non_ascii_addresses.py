"""Non-ASCII addresses are taken at the form (RFC 6531/6532): the confirmation goes out with
SMTPUTF8 where the server offers it; where not, it is logged, never a 500 after the commit."""

import logging
import time

import pytest
from sqlalchemy import select

from landingpad import create_app
from landingpad.storage import session_factory
from landingpad.storage.models import Signup
from tests.smtp_sink import Sink

ADDRESSES = ["jörg@exämple.de", "用户@例子.广告", "joerg@exämple.de"]


@pytest.fixture(params=[True, False], ids=["smtputf8", "no-smtputf8"])
def server(request, app_config):
    with Sink(smtputf8=request.param) as sink:
        app = create_app({**app_config, "MAIL_TRANSPORT": "smtp", "SMTP_HOST": "127.0.0.1",
                          "SMTP_PORT": sink.port, "SMTP_TIMEOUT": 5.0})
        yield app, sink, request.param
        app.extensions["landingpad.db"].dispose()


@pytest.mark.parametrize("address", ADDRESSES)
def test_a_non_ascii_address_signs_up_and_is_mailed_where_the_server_can(server, address,
                                                                         caplog):
    app, sink, smtputf8 = server
    caplog.set_level(logging.WARNING)
    tokens = app.extensions["landingpad.tokens"]
    response = app.test_client().post(
        "/signup", headers={"Host": "bikes.test"}, buffered=True,
        data={"email": address, "consent": "y",
              "token": tokens.issue("bikes.test", now=time.time() - 5)})
    assert response.status_code == 303 and response.headers["Location"] == "/thanks"
    with session_factory(app)() as session:
        assert session.scalar(select(Signup.email)) == address
    needs_utf8 = not address.split("@")[0].isascii()
    if smtputf8 or not needs_utf8:
        [(_, [rcpt])] = sink.handler.envelopes
        assert rcpt.split("@")[0] == address.split("@")[0]
        assert rcpt.split("@")[1].startswith("xn--")
    else:
        assert sink.handler.envelopes == []
        assert any("confirmation mail for bikes.test not sent (permanent" in r.getMessage()
                   for r in caplog.records)


def test_the_form_still_refuses_what_is_not_an_address(client, token):
    response = client.post("/signup", headers={"Host": "bikes.test"}, buffered=True,
                           data={"email": "jörg@@exämple.de", "consent": "y",
                                 "token": token("bikes.test")})
    assert response.status_code == 400
