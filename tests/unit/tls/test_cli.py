"""`landingpad tls ...` as an owner types it: clear errors that change nothing."""

import json

from sqlalchemy import select

from landingpad.storage.models import Certificate
from landingpad.storage.types import utcnow


def test_status_lists_every_host_of_the_sites_file_with_its_state(runner, cli_env):
    cli_env["LANDINGPAD_ACME_DIRECTORY"] = ""
    result = runner("tls", "status")
    assert result.exit_code == 0
    lines = [line.split("\t") for line in result.output.splitlines()
             if line and not line.startswith("#")]
    assert "automatic certificates are off" in result.output
    assert [(line[0], line[1]) for line in lines] == [
        ("bikes.test", "none"), ("coffee.test", "none"), ("www.coffee.test", "none")]


def test_status_json_is_one_object_per_host(runner, db):
    now = utcnow()
    db.add(Certificate(host="coffee.test", state="failing", failures=2, next_attempt_at=now,
                       last_error="not ordered: DNS", updated_at=now))
    db.commit()
    data = json.loads(runner("tls", "status", "--json").output)
    coffee = next(item for item in data if item["domain"] == "coffee.test")
    assert coffee["state"] == "failing" and coffee["last_error"] == "not ordered: DNS"
    assert coffee["next_attempt"].startswith(str(now.year))
    assert set(coffee) == {"domain", "state", "not_after", "next_attempt", "last_error",
                           "source"}


def test_issue_refuses_a_host_that_is_not_in_the_sites_file(runner, cli_env, db):
    cli_env["LANDINGPAD_ACME_DIRECTORY"] = "https://127.0.0.1:9/dir"
    result = runner("tls", "issue", "nowhere.test")
    assert result.exit_code == 2 and "nowhere.test" in result.output
    result = runner("tls", "issue", "bad host!")
    assert result.exit_code == 2 and "bad host!" in result.output
    assert db.scalars(select(Certificate)).all() == []  # nothing queued, nothing ordered


def test_commands_that_order_say_so_when_automatic_certificates_are_off(runner, cli_env):
    cli_env["LANDINGPAD_ACME_DIRECTORY"] = ""
    for command in (("issue",), ("renew",), ("worker",)):
        result = runner("tls", *command)
        assert result.exit_code == 1 and "automatic certificates are off" in result.output


def test_a_bad_acme_setting_is_named(runner, cli_env):
    cli_env["LANDINGPAD_ACME_DIRECTORY"] = "http://insecure.example/dir"
    result = runner("tls", "status")
    assert result.exit_code == 1 and "LANDINGPAD_ACME_DIRECTORY" in result.output


def test_a_host_just_added_shows_as_pending_before_the_worker_queues_it(runner):
    runner("domain", "add", "new.test")
    lines = dict(line.split("\t")[:2] for line in runner("tls", "status").output.splitlines()
                 if not line.startswith("#"))
    assert lines["new.test"] == "pending"  # the default directory: certificates on
