import email
import re
import time

from sqlalchemy import select

from landingpad.storage.models import Signup


def mails(data_dir):
    folder = data_dir / "mail"
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))] \
        if folder.exists() else []


def link_of(message, host="bikes.test"):
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return re.search(rf"https://{re.escape(host)}(/confirm/\S+)", text.get_payload(decode=True)
                     .decode()).group(1)


def confirmed(db):
    db.expire_all()
    return db.scalar(select(Signup.confirmed_at))


def test_signup_sends_a_confirmation_and_only_post_confirms(client, post, token, data_dir, db):
    assert post(host="bikes.test", token=token("bikes.test")).status_code == 303
    [message] = mails(data_dir)
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == "Please confirm your sign-up to Bike Collective"
    path = link_of(message)
    page = client.get(path, headers={"Host": "bikes.test"})
    assert page.status_code == 200 and b'<form method="post">' in page.data
    assert confirmed(db) is None  # a mail scanner following the link confirms nothing
    done = client.post(path, headers={"Host": "bikes.test"})
    assert done.status_code == 200 and b"you're confirmed" in done.data
    assert confirmed(db) is not None
    assert "Set-Cookie" not in done.headers


def test_no_confirmation_mail_without_double_optin(post, data_dir):
    post()
    assert mails(data_dir) == []


def test_a_confirmed_address_is_not_asked_again(client, post, token, data_dir):
    post(host="bikes.test", token=token("bikes.test"))
    client.post(link_of(mails(data_dir)[0]), headers={"Host": "bikes.test"})
    post(host="bikes.test", token=token("bikes.test"))
    assert len(mails(data_dir)) == 1


def test_at_most_three_confirmations_per_address_per_day(post, token, data_dir, stored):
    for _ in range(6):
        assert post(host="bikes.test", token=token("bikes.test")).status_code == 303
    assert len(mails(data_dir)) == 3
    post(host="bikes.test", email="other@example.com", token=token("bikes.test"))
    assert len(mails(data_dir)) == 4  # another address has its own quota
    assert stored() == 2


def test_tampered_foreign_and_expired_links(client, post, token, data_dir, app, db):
    post(host="bikes.test", token=token("bikes.test"))
    path = link_of(mails(data_dir)[0])
    assert client.post(path[:-3] + "abc", headers={"Host": "bikes.test"}).status_code == 404
    assert client.post("/confirm/" + "x" * 300, headers={"Host": "bikes.test"}).status_code \
        == 404
    assert client.post(path, headers={"Host": "coffee.test"}).status_code == 404
    app.config["CONFIRM_MAX_AGE"] = 1
    time.sleep(2.1)
    expired = client.post(path, headers={"Host": "bikes.test"})
    assert expired.status_code == 410 and b"expired" in expired.data
    assert confirmed(db) is None


def test_signing_up_again_after_unsubscribing_takes_a_confirmed_address(
        app, client, post, data_dir, db):
    """Suppression holds against anyone typing the address in again, on any site, and
    lifts only when the address's owner confirms by the emailed link."""
    from landingpad.announce.recipients import eligible
    from landingpad.storage.models import Announcement
    from landingpad.web.links import unsubscribe_token

    assert post().status_code == 303  # coffee.test: single opt-in, no mail
    assert mails(data_dir) == []
    with app.app_context():
        token = unsubscribe_token(*db.execute(select(Signup.id, Signup.link_key)).one())
    client.post(f"/unsubscribe/{token}", headers={"Host": "coffee.test"})

    def mailable() -> bool:
        db.expire_all()
        announcement = Announcement(subject="s", body_markdown="b", sites=["coffee.test"])
        with app.app_context():
            return bool(eligible(db, announcement, app.extensions["landingpad.sites"]))

    assert post().status_code == 303  # typed in again: still not mailed
    assert not mailable()
    [message] = mails(data_dir)
    path = link_of(message, "coffee.test")
    assert client.post(path, headers={"Host": "coffee.test"}).status_code == 200
    assert mailable()
