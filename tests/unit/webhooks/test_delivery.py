"""Delivery for real: events from the app's own views, a deliverer process killed with
SIGKILL mid-queue and started again, an HTTPS receiver that fails first. Every event
arrives, signed (standardwebhooks verifies it), duplicates with the same webhook-id."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from standardwebhooks import Webhook

from landingpad import create_app
from landingpad.storage import session_factory
from landingpad.storage.models import Delivery, Event, Signup
from landingpad.web.links import confirm_token, unsubscribe_token
from landingpad.webhooks.config import endpoints, signing_secret
from landingpad.webhooks.deliver import Deliverer, webhook_id

LANDINGPAD = str(Path(sys.executable).with_name("landingpad"))
GUARD = 60.0  # seconds: a hang guard, not a timing assertion


def wait_until(check, what: str) -> None:
    deadline = time.monotonic() + GUARD
    while not check():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.02)


def all_delivered(app) -> bool:
    with session_factory(app)() as session:
        return set(session.scalars(select(Delivery.state))) == {"delivered"}


def hook_env(cli_env: dict, hooks) -> dict:
    return {**cli_env, "LANDINGPAD_WEBHOOK_URLS": hooks.url("/hook?token=s3cr3t-path"),
            "LANDINGPAD_WEBHOOK_ALLOW_PRIVATE": "true",
            "LANDINGPAD_WEBHOOK_CA_BUNDLE": str(hooks.ca),
            "LANDINGPAD_WEBHOOK_TIMEOUT": "1", "LANDINGPAD_WEBHOOK_RETRY_SECONDS": "0.2",
            "LANDINGPAD_WEBHOOK_RETRY_MAX_SECONDS": "0.5"}


def config_of(env: dict) -> dict:
    return {"DATA_DIR": env["LANDINGPAD_DATA_DIR"], "DATABASE_URL": env["DATABASE_URL"],
            "SECRET_KEY": env["LANDINGPAD_SECRET_KEY"], "SITES_CHECK_SECONDS": 0.0,
            "TESTING": True}


def deliverer(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([LANDINGPAD, "webhooks", "deliver", *args],
                            env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def make_events(app, data_dir: Path) -> None:
    """Sign-ups, a repeat, a confirmation, an unsubscribe and an erasure, through the app."""
    from landingpad.privacy.erasure import forget

    client = app.test_client()
    tokens = app.extensions["landingpad.tokens"]

    def sign_up(host: str, email: str) -> None:
        token = tokens.issue(host, now=time.time() - 5)
        assert client.post("/signup", data={"email": email, "consent": "y", "token": token},
                           headers={"Host": host}, buffered=True).status_code == 303

    for i in range(5):
        sign_up("coffee.test", f"e{i}@example.com")
    sign_up("coffee.test", "e0@example.com")  # a repeat: no event
    sign_up("bikes.test", "f@example.com")
    with session_factory(app)() as session, app.app_context():
        rows = {s.email: s for s in session.scalars(select(Signup))}
        fan, leaver = rows["f@example.com"], rows["e1@example.com"]
        confirm = f"/confirm/{confirm_token(fan.id, fan.link_key)}"
        leave = f"/unsubscribe/{unsubscribe_token(leaver.id, leaver.link_key)}"
    assert client.post(confirm, headers={"Host": "bikes.test", "Origin": "https://bikes.test"},
                       buffered=True).status_code == 200
    assert client.post(leave, headers={"Host": "coffee.test"}).status_code == 200
    with app.app_context(), session_factory(app)() as session:
        forget(session, app.config["SECRET_KEY"], "e2@example.com", data_dir / "mail")


def test_every_event_arrives_signed_despite_failures_and_a_kill_9(
        hooks, cli_env, data_dir, runner, caplog):
    env = hook_env(cli_env, hooks)
    # bikes.test has an endpoint of its own too (the sites file's key).
    own = f'\nwebhooks = ["{hooks.url("/bikes")}"]'
    sites = (data_dir / "sites.toml").read_text().replace(
        "LANDING_DOUBLE_OPTIN = true", "LANDING_DOUBLE_OPTIN = true" + own)
    (data_dir / "sites.toml").write_text(sites)
    app = create_app(config_of(env) | {
        "WEBHOOK_URLS": (env["LANDINGPAD_WEBHOOK_URLS"],), "WEBHOOK_ALLOW_PRIVATE": True,
        "WEBHOOK_CA_BUNDLE": str(hooks.ca), "WEBHOOK_TIMEOUT": 1.0,
        "WEBHOOK_RETRY_SECONDS": 0.2, "WEBHOOK_RETRY_MAX_SECONDS": 0.5})
    try:
        make_events(app, data_dir)
        with session_factory(app)() as session:
            events = list(session.scalars(select(Event).order_by(Event.id)))
        kinds = sorted(e.kind for e in events)
        # e2's own sign-up event went with its row; its erasure names no one.
        assert kinds == sorted(["signup.created"] * 5 + ["signup.confirmed",
                                                          "signup.unsubscribed", "signup.erased"])
        endpoints = {"coffee.test": [hooks.url("/hook?token=s3cr3t-path")],
                     "bikes.test": [hooks.url("/hook?token=s3cr3t-path"), hooks.url("/bikes")]}
        expected = {webhook_id(e, url) for e in events for url in endpoints[e.site]}
        assert len(expected) == 10

        hooks.plan.extend(["500", "500", "302", "hang"])
        first = deliverer(env)
        wait_until(hooks.hanging.is_set, "a request in flight")
        os.kill(first.pid, signal.SIGKILL)  # mid-queue: that request is never answered
        first.wait()
        # A request the dead process sent before the kill may still be read; until every
        # connection of it has ended, one could take the answer planned for the restart.
        wait_until(lambda: hooks.busy == 0, "the dead deliverer's connections ended")
        hooks.hanging.clear()
        hooks.plan.extend(["hang"])  # the next run sees a timeout first
        # The restart, in this process (one start-up less): the dead one's claims are
        # taken over at once (its pid is gone), its failures retried.
        second = Deliverer(app)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="landingpad.webhooks"):
            running = threading.Thread(target=second.loop)
            running.start()
            try:
                wait_until(lambda: {r.headers["webhook-id"] for r in hooks.accepted()}
                           >= expected, "every event accepted")
                # The receiver answers before the deliverer commits: wait for the commits.
                wait_until(lambda: all_delivered(app), "every delivery recorded")
            finally:
                second.stopping.set()
                running.join(GUARD)
        output = caplog.text
        assert "timed out" in output and "HTTP 500" not in output  # this run's failure only
        for secret_thing in ("@example.com", "s3cr3t-path", signing_secret(app.config)):
            assert secret_thing not in output  # the log names hosts and numbers only

        verifier = Webhook(signing_secret(app.config))
        by_id = defaultdict(set)
        for request in hooks.received:
            payload = verifier.verify(request.body, request.headers)  # raises if not signed
            by_id[request.headers["webhook-id"]].add(request.body)
            assert payload["type"] == json.loads(request.body)["type"]
        assert set(by_id) == expected
        assert all(len(bodies) == 1 for bodies in by_id.values())  # a retry is the same message
        assert len(hooks.received) > len(expected)  # there were failures and retries
        erased = [json.loads(r.body) for r in hooks.accepted()
                  if json.loads(r.body)["type"] == "signup.erased"]
        assert erased and all(set(e["data"]) == {"id", "site", "erased_at"} for e in erased)
        assert all(b"e2@example.com" not in r.body for r in hooks.received)

        with session_factory(app)() as session:
            states = list(session.scalars(select(Delivery.state)))
        assert states == ["delivered"] * 10
        result = runner("webhooks", "status")
        assert "delivered: 10" in result.output and "localhost" in result.output
        assert "s3cr3t" not in result.output
    finally:
        app.extensions["landingpad.db"].dispose()


def test_a_second_deliverer_never_sends_what_a_running_one_holds(hooks, cli_env, app_config):
    from landingpad.storage.signups import record_signup

    env = hook_env(cli_env, hooks) | {"LANDINGPAD_WEBHOOK_TIMEOUT": "30"}
    app = create_app(app_config)
    try:
        with session_factory(app)() as session:
            for i in range(20):
                record_signup(session, site="coffee.test", email=f"p{i}@example.com",
                              interests=[], consent_version="v", consent_text="t")
    finally:
        app.extensions["landingpad.db"].dispose()
    hooks.gate.clear()  # the first deliverer's posts wait: it is provably mid-run
    first = deliverer(env, "--once")
    wait_until(lambda: hooks.received, "the first deliverer's first post")
    # A second deliverer (in this process) while the first holds its claims: nothing for it.
    app = create_app(app_config | {"WEBHOOK_URLS": (hooks.url("/hook"),)})
    try:
        tally = Deliverer(app).run_once()
    finally:
        app.extensions["landingpad.db"].dispose()
    hooks.gate.set()
    first_output = first.communicate(timeout=GUARD)[0].decode()
    assert first.returncode == 0, first_output
    assert (tally.delivered, tally.retrying, tally.failed) == (0, 0, 0)
    assert "delivered 20," in first_output
    ids = [r.headers["webhook-id"] for r in hooks.received]
    assert len(ids) == 20 and len(set(ids)) == 20


def test_a_delivery_is_given_up_after_the_window_and_recorded(hooks, app_config):
    from landingpad.storage.signups import record_signup

    settings = {"WEBHOOK_URLS": (hooks.url("/hook"),), "WEBHOOK_ALLOW_PRIVATE": True,
                "WEBHOOK_CA_BUNDLE": str(hooks.ca), "WEBHOOK_TIMEOUT": 1.0,
                "WEBHOOK_RETRY_SECONDS": 0.0, "WEBHOOK_GIVE_UP_HOURS": 1.0}
    app = create_app(app_config | settings)
    try:
        with session_factory(app)() as session:
            record_signup(session, site="coffee.test", email="g@example.com", interests=[],
                          consent_version="v", consent_text="t")
        hooks.plan.extend(["500", "500"])
        deliverer = Deliverer(app)
        with session_factory(app)() as session:
            with app.app_context():
                deliverer.queue.fan_out(session, endpoints(app), deliverer.policy.give_up)
            delivery = session.scalars(select(Delivery)).one()
            delivery.created_at -= timedelta(hours=2)  # its window has passed
            session.commit()
        tally = deliverer.run_once()
        assert (tally.delivered, tally.failed) == (0, 1)
        with session_factory(app)() as session:
            delivery = session.scalars(select(Delivery)).one()
        assert (delivery.state, delivery.attempts, delivery.last_status) == ("failed", 1, 500)
        assert delivery.last_error == "given up after 1 attempts: HTTP 500"
        assert len(hooks.received) == 1  # not tried again
    finally:
        app.extensions["landingpad.db"].dispose()


def test_events_older_than_the_window_are_not_sent_late(hooks, app_config):
    from landingpad.storage.signups import record_signup

    app = create_app(app_config | {"WEBHOOK_URLS": (hooks.url("/hook"),),
                                   "WEBHOOK_GIVE_UP_HOURS": 0.0})
    try:
        with session_factory(app)() as session:
            record_signup(session, site="coffee.test", email="old@example.com", interests=[],
                          consent_version="v", consent_text="t")
        tally = Deliverer(app).run_once()
        assert (tally.delivered, tally.failed, tally.retrying) == (0, 0, 0)
        with session_factory(app)() as session:
            assert session.scalars(select(Delivery)).all() == []
            assert all(session.scalars(select(Event.dispatched)))
        assert hooks.received == []
    finally:
        app.extensions["landingpad.db"].dispose()


def test_deliver_without_endpoints_says_so_and_sends_nothing(cli_env, hooks):
    from click.testing import CliRunner

    from landingpad.cli import main

    result = CliRunner().invoke(main, ["webhooks", "deliver", "--once"], env=cli_env)
    assert result.exit_code == 1 and "no webhook endpoints" in result.output
    assert hooks.received == []
