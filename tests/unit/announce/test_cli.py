from pathlib import Path

import pytest


@pytest.fixture
def body(tmp_path):
    path = tmp_path / "body.md"
    path.write_text("# Live\n\nWe are **open**.\n")
    return path


def test_create_preview_test_send_status(runner, database_url, body, tmp_path, data_dir):
    import sqlalchemy as sa

    from landingpad.storage.engine import make_engine
    from landingpad.storage.signups import record_signup

    engine = make_engine(database_url)
    with sa.orm.Session(engine) as session:
        record_signup(session, site="coffee.test", email="fan@example.com", interests=[],
                      consent_version="v", consent_text="t")
    engine.dispose()
    created = runner("announce", "create", "--site", "coffee.test", "--subject", "Open!",
                     "--body-file", str(body))
    assert created.exit_code == 0, created.output
    ident = created.output.strip()
    preview = runner("announce", "preview", ident, "--out", str(tmp_path / "p"))
    paths = preview.output.split()
    assert [p.rsplit(".", 1)[1] for p in paths] == ["html", "txt"]
    assert "<strong>open</strong>" in Path(paths[0]).read_text()
    assert "We are **open**." in Path(paths[1]).read_text()
    test = runner("announce", "test", ident, "--to", "me@example.com")
    assert test.exit_code == 0 and "test message sent" in test.output
    mail = list((data_dir / "mail").glob("*.eml"))
    assert len(mail) == 1 and b"Subject: [TEST] Open!" in mail[0].read_bytes()
    sent = runner("announce", "send", ident, "--no-progress", "--force")  # no DNS here
    assert sent.exit_code == 0 and "sent 1" in sent.output
    assert runner("announce", "status", ident).output.splitlines()[:6] == [
        "pending 0", "claimed 0", "sending 0", "sent 1", "failed 0", "unknown 0"]
    [eml] = [p.read_bytes() for p in (data_dir / "mail").glob(f"announce-{ident}-1.*.eml")]
    assert b"To: fan@example.com" in eml and b"List-Unsubscribe-Post" in eml


@pytest.mark.parametrize(("args", "message"), [
    (["--site", "nowhere.test"], "not in the sites file"),
    (["--site", "bad host!"], "--site"),
    (["--site", "coffee.test", "--subject", "two\nlines"], "one line"),
    (["--site", "coffee.test", "--subject", "x" * 201], "one line"),
    (["--site", "coffee.test", "--interest", "x" * 81], "--interest"),
    (["--site", "coffee.test", "--interest", "Beans\nBcc"], "--interest"),
    (["--site", "coffee.test", "--interest", "  "], "--interest"),
])
def test_create_refuses_bad_input(runner, body, args, message, backend):
    full = ["announce", "create", *args, "--body-file", str(body)]
    if "--subject" not in args:
        full += ["--subject", "Hi"]
    result = runner(*full)
    assert result.exit_code == 2 and message in result.output


def test_empty_or_huge_bodies_are_refused(runner, tmp_path, backend):
    for content in ("   \n", "x" * 100_001):
        path = tmp_path / "b.md"
        path.write_text(content)
        result = runner("announce", "create", "--site", "coffee.test", "--subject", "Hi",
                        "--body-file", str(path))
        assert result.exit_code == 2 and "--body-file" in result.output


def test_unknown_announcement(runner, backend):
    for command in ("status", "send", "preview"):
        result = runner("announce", command, "99")
        assert result.exit_code == 1 and "no announcement 99" in result.output


def test_send_with_no_smtp_server_stops_with_the_reason_and_fails_nobody(
        runner, cli_env, database_url, body, monkeypatch):
    import sqlalchemy as sa

    from landingpad.announce import sender
    from landingpad.storage.engine import make_engine
    from landingpad.storage.signups import record_signup
    from tests.servers import free_port

    monkeypatch.setattr(sender, "CONNECT_BACKOFF", 0.01)
    engine = make_engine(database_url)
    with sa.orm.Session(engine) as session:
        for name in ("a", "b", "c"):
            record_signup(session, site="coffee.test", email=f"{name}@example.com",
                          interests=[], consent_version="v", consent_text="t")
    engine.dispose()
    ident = runner("announce", "create", "--site", "coffee.test", "--subject", "Open!",
                   "--body-file", str(body)).output.strip()
    # A wrong SMTP port (or a server that is down): nothing listens there.
    port = free_port()
    cli_env.update({"LANDINGPAD_MAIL_TRANSPORT": "smtp", "LANDINGPAD_SMTP_HOST": "127.0.0.1",
                    "LANDINGPAD_SMTP_PORT": str(port)})
    sent = runner("announce", "send", ident, "--no-progress", "--force")
    assert sent.exit_code == 1, sent.output
    assert f"cannot connect to 127.0.0.1:{port}" in sent.output
    assert "the rest still to send" in sent.output
    assert runner("announce", "status", ident).output.splitlines()[:6] == [
        "pending 3", "claimed 0", "sending 0", "sent 0", "failed 0", "unknown 0"]
