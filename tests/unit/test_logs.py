"""What a log line may hold: link tokens replaced, in paths, URLs and tracebacks."""

import io
import logging
import re

import pytest

from landingpad.logs import SECRET_PATH, RedactLinks, redact_handlers, redact_path
from tests.unit.admin.conftest import app  # noqa: F401 - the app with its admin area

# Route arguments that are no secret: which site, which row of the owner's own list,
# which public file.
# An ACME challenge token is public by design: the CA and anyone else may fetch its answer.
PUBLIC_ARGUMENTS = {"domain", "ident", "key", "filename", "challenge"}


@pytest.mark.parametrize(("path", "logged"), [
    ("/confirm/WzEsImFiIl0.aw3cjw.86giDi7k", "/confirm/<token>"),
    ("/confirm/abc/extra", "/confirm/<token>"),
    ("/unsubscribe/abc.def", "/unsubscribe/<token>"),
    ("/privacy/data/abc.def", "/privacy/data/<token>"),
    ("/offer/confirm/abc", "/offer/confirm/<token>"),
    ("/logos/coffee.test/direct/state.sig", "/logos/coffee.test/direct/<token>"),
    ("/", "/"),
    ("/privacy", "/privacy"),
    ("/privacy/request", "/privacy/request"),
    ("/logos/coffee.test", "/logos/coffee.test"),
    ("/assets/coffee.test/" + "a" * 32 + ".png", "/assets/coffee.test/" + "a" * 32 + ".png"),
    ("/x/confirm/abc", "/x/confirm/abc"),  # no route of ours: the app answers 404
])
def test_a_secret_path_is_logged_without_its_token(path, logged):
    assert redact_path(path) == logged
    assert re.match(SECRET_PATH, path) is not None or logged == path


def test_every_route_with_a_secret_in_its_path_is_redacted(app):  # noqa: F811
    # Walks both URL maps: a new route with a token in its path fails here until
    # logs.SECRET_PREFIXES lists it.
    checked = 0
    for url_map in (app.url_map, app.extensions["landingpad.admin"].url_map):
        for rule in url_map.iter_rules():
            secret = set(rule.arguments) - PUBLIC_ARGUMENTS
            if not secret:
                continue
            values = {arg: 7 if arg == "ident" else f"Secret{arg}Zz9" for arg in rule.arguments}
            path = rule.build(values, append_unknown=False)[1]
            for arg in secret:
                assert values[arg] not in redact_path(path), rule.rule
            checked += 1
    assert checked >= 4  # confirm, unsubscribe, privacy data, direct upload state


def test_the_filter_redacts_messages_arguments_and_tracebacks():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logger = logging.getLogger("test.logs.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    redact_handlers(logger)
    redact_handlers(logger)  # idempotent
    assert sum(isinstance(f, RedactLinks) for f in handler.filters) == 1
    try:
        # As Flask logs a failed error handler, and a library quoting a URL.
        logger.error("Exception on %s [%s]", "/confirm/Tok3nAAA.sig", "POST")
        logger.warning("fetched https://coffee.test/privacy/data/Tok3nBBB?format=json")
        try:
            raise ValueError("bad link /unsubscribe/Tok3nCCC")
        except ValueError:
            logger.exception("failed")
        logger.error("an ordinary line about /privacy/request and 100%%")
        try:  # as PostgreSQL details a unique violation
            raise RuntimeError('DETAIL: Key (site, email)=(coffee.test, "Zoe.Q+x"@example.com)')
        except RuntimeError:
            logger.exception("unhandled error for %s", "carl@example.org")
        logger.error("a broken format %d", "not a number")  # reported, never raised
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert "Tok3n" not in text
    assert "Zoe" not in text and "carl" not in text and "example.org" not in text
    assert "unhandled error for <address>" in text
    assert "Exception on /confirm/<token> [POST]" in text
    assert "https://coffee.test/privacy/data/<token>?format=json" in text
    assert "ValueError: bad link /unsubscribe/<token>" in text
    assert "an ordinary line about /privacy/request and 100%" in text
