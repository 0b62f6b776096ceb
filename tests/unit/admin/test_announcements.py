import email
import re
import time

from landingpad.storage import session_factory
from landingpad.storage.signups import record_signup
from tests.unit.admin.conftest import ADMIN, csrf_token

H = {"Host": ADMIN}


def test_compose_preview_test_and_send_in_the_background(app, logged_in, data_dir):
    with session_factory(app)() as session:
        for i in range(5):
            record_signup(session, site="coffee.test", email=f"f{i}@example.com",
                          interests=[], consent_version="v", consent_text="t")
    page = logged_in.get("/announcements/", headers=H)
    assert page.status_code == 200 and b'value="coffee.test"' in page.data
    token = csrf_token(logged_in, "/announcements/")
    created = logged_in.post("/announcements/", headers=H, data={
        "csrf_token": token, "sites": ["coffee.test"], "subject": "We are open",
        "body": "Come **in**. <script>x()</script>"})
    assert created.status_code == 302
    detail = created.headers["Location"]
    assert re.match(r"/announcements/\d+$", detail)

    preview = logged_in.get(detail + "/preview.html", headers=H)
    assert preview.status_code == 200 and b"<strong>in</strong>" in preview.data
    assert b"<script>" not in preview.data
    assert "sandbox" in preview.headers["Content-Security-Policy"]

    token = csrf_token(logged_in, detail)
    logged_in.post(detail + "/test", data={"csrf_token": token, "to": "me@example.com"},
                   headers=H)
    assert b"Test sent to me@example.com." in logged_in.get(detail, headers=H).data
    mails = lambda: list((data_dir / "mail").glob("*.eml"))  # noqa: E731
    assert [email.message_from_bytes(p.read_bytes())["Subject"] for p in mails()] == [
        "[TEST] We are open"]

    # force: no DNS server here for the DKIM/DMARC check (tests/unit/dnscheck test it).
    sent = logged_in.post(detail + "/send", data={"csrf_token": token, "confirm": "yes",
                                                  "force": "y"}, headers=H)
    assert sent.status_code == 302
    deadline = time.monotonic() + 30
    while len(mails()) < 6:
        assert time.monotonic() < deadline, "background sender did not finish"
        time.sleep(0.2)
    while b'<span class="n">5</span> sent' not in logged_in.get(detail, headers=H).data:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert b"Done." in logged_in.get(detail, headers=H).data
    # What the sender printed when it finished (after its last commit), from its log.
    while "sent 5" not in (page := logged_in.get(detail, headers=H).get_data(as_text=True)):
        assert time.monotonic() < deadline, page
        time.sleep(0.2)
    assert "What the sender said last" in page and "5 recipients" in page


def test_compose_refuses_bad_input(logged_in):
    token = csrf_token(logged_in, "/announcements/")
    for data in ({"sites": ["coffee.test"], "subject": "two\nlines", "body": "x"},
                 {"sites": ["nowhere.test"], "subject": "Hi", "body": "x"},
                 {"sites": ["coffee.test"], "subject": "Hi", "body": ""}):
        response = logged_in.post("/announcements/", data={"csrf_token": token, **data},
                                  headers=H)
        assert response.status_code == 400


def test_announcement_pages_need_login_and_csrf(client, logged_in):
    assert client.application.test_client().get("/announcements/", headers=H) \
        .status_code == 302
    assert logged_in.post("/announcements/1/send", data={"confirm": "yes"},
                          headers=H).status_code == 400
    assert logged_in.get("/announcements/999", headers=H).status_code == 404


def test_the_page_refreshes_only_while_the_announcement_is_sending(app, logged_in,
                                                                  add_announcement):
    from landingpad.storage.models import Announcement, Recipient
    from landingpad.storage.types import utcnow

    ident = add_announcement()
    refresh = b'http-equiv="refresh"'
    page = logged_in.get(f"/announcements/{ident}", headers=H).data
    assert refresh not in page and b"Send to everyone now" in page  # a draft

    with session_factory(app)() as session:
        session.get(Announcement, ident).recipients_at = utcnow()
        row = Recipient(announcement_id=ident, email="a@example.com", site="coffee.test",
                        state="sending", attempts=1)
        session.add(row)
        session.commit()
        page = logged_in.get(f"/announcements/{ident}", headers=H).data
        assert refresh in page  # a row still being handed over

        row.state = "unknown"
        session.commit()
    page = logged_in.get(f"/announcements/{ident}", headers=H).data
    assert refresh not in page and b"Done." in page


def test_the_page_shows_what_the_sender_said_last(logged_in, add_announcement, data_dir):
    from landingpad.admin.announcements import SAID_LINES

    ident = add_announcement()
    assert b"What the sender said last" not in logged_in.get(f"/announcements/{ident}",
                                                           headers=H).data  # no run yet
    stop = ("Error: no mail server answered at <b>mail.example</b>:25 (connection refused); "
            "stopped, the rest still to send")
    logs = data_dir / "logs"
    logs.mkdir(exist_ok=True)
    (logs / f"announce-{ident}.log").write_text(
        "".join(f"line {i}\n" for i in range(3000)) + "\n" + stop + "\n")
    page = logged_in.get(f"/announcements/{ident}", headers=H).get_data(as_text=True)
    assert "What the sender said last" in page
    assert "&lt;b&gt;mail.example&lt;/b&gt;" in page and "<b>mail.example" not in page
    shown = [f"line {i}" for i in range(3000 - SAID_LINES + 1, 3000)]
    assert all(f"{line}\n" in page for line in shown)
    assert f"line {3000 - SAID_LINES}\n" not in page  # only the last lines
    assert f"announce-{ident}.log" in page


def test_an_empty_sender_log_shows_nothing(logged_in, add_announcement, data_dir):
    ident = add_announcement()
    (data_dir / "logs").mkdir(exist_ok=True)
    (data_dir / "logs" / f"announce-{ident}.log").write_text("\n  \n")
    page = logged_in.get(f"/announcements/{ident}", headers=H).data
    assert page.count(b"<h2>") > 0 and b"What the sender said last" not in page


def test_a_new_run_hides_the_previous_runs_stop(logged_in, add_announcement, data_dir):
    from landingpad.admin.announcements import STARTED

    ident = add_announcement()
    (data_dir / "logs").mkdir(exist_ok=True)
    (data_dir / "logs" / f"announce-{ident}.log").write_text(
        f"{STARTED} 2026-12-01T10:00:00+00:00 ---\nError: no mail server; stopped\n"
        f"{STARTED} 2026-12-02T10:00:00+00:00 ---\n")
    page = logged_in.get(f"/announcements/{ident}", headers=H).get_data(as_text=True)
    assert "2026-12-02T10:00:00" in page  # this run has started and said nothing yet
    assert "no mail server" not in page and "2026-12-01T10:00:00" not in page


def test_a_log_that_is_one_long_line_shows_its_end(logged_in, add_announcement, data_dir):
    ident = add_announcement()
    (data_dir / "logs").mkdir(exist_ok=True)
    (data_dir / "logs" / f"announce-{ident}.log").write_text("x" * 20000 + " the end\n")
    page = logged_in.get(f"/announcements/{ident}", headers=H).get_data(as_text=True)
    assert "x the end" in page


def test_a_log_that_is_not_a_plain_file_is_named_not_followed(logged_in, add_announcement,
                                                               data_dir):
    ident = add_announcement()
    logs = data_dir / "logs"
    logs.mkdir(exist_ok=True)
    secret = data_dir / "elsewhere.txt"
    secret.write_text("do-not-show-me")
    (logs / f"announce-{ident}.log").symlink_to(secret)
    page = logged_in.get(f"/announcements/{ident}", headers=H)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "do-not-show-me" not in text and "can&#39;t be read" in text
    (logs / f"announce-{ident}.log").unlink()
    (logs / f"announce-{ident}.log").mkdir()
    page = logged_in.get(f"/announcements/{ident}", headers=H)
    assert page.status_code == 200 and b"can&#39;t be read" in page.data
