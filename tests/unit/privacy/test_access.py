import email
import json
import re
import time

import sqlalchemy as sa

from landingpad.storage import session_factory
from landingpad.storage.models import Announcement, Recipient, Signup
from landingpad.storage.signups import record_signup
from landingpad.storage.types import utcnow

H = {"Host": "coffee.test"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def signup(app, address="me@example.com", site="coffee.test"):
    with session_factory(app)() as session:
        return record_signup(session, site=site, email=address, interests=["Beans"],
                             consent_version="v1", consent_text="I agree, really")[0]


def ask(client, address):
    return client.post("/privacy/request", data=f"email={address}", buffered=True,
                       headers={**H, **FORM})


def links(data_dir):
    found = []
    for path in sorted((data_dir / "mail").glob("*.eml")) if (data_dir / "mail").exists() else []:
        body = email.message_from_bytes(path.read_bytes()).get_payload()[0].get_payload(
            decode=True).decode()
        found.append(re.search(r"https://coffee\.test(/privacy/data/\S+)", body).group(1))
    return found


def test_same_answer_for_known_and_unknown_addresses(app, client, data_dir):
    signup(app)
    known, unknown = ask(client, "me@example.com"), ask(client, "stranger@example.com")
    assert known.status_code == unknown.status_code == 200
    assert known.data == unknown.data
    assert "Set-Cookie" not in known.headers
    assert len(links(data_dir)) == 1  # only the known address got a link


def test_see_download_and_erase(app, client, data_dir):
    sid = signup(app)
    with session_factory(app)() as session:
        item = Announcement(subject="Launch!", body_markdown="x", sites=["coffee.test"],
                            created_at=utcnow())
        session.add(item)
        session.commit()
        session.add(Recipient(announcement_id=item.id, email="me@example.com", signup_id=sid,
                              site="coffee.test", state="sent", attempts=1))
        session.commit()
    ask(client, "me@example.com")
    [path] = links(data_dir)
    page = client.get(path, headers=H).get_data(as_text=True)
    assert "me@example.com" in page and "I agree, really" in page and "Launch! (sent)" in page
    held = json.loads(client.get(path + "?format=json", headers=H).data)
    assert held["email"] == "me@example.com" and held["interests"] == ["Beans"]
    assert held["consent"]["text"] == "I agree, really"
    assert held["emails"] == [{"subject": "Launch!", "state": "sent",
                               "sent_at": None}]
    erased = client.post(path, data={"action": "erase"}, headers=H)
    assert erased.status_code == 200 and b"Erased" in erased.data
    with session_factory(app)() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Signup)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(Recipient)) == 0
    assert client.get(path, headers=H).status_code == 404


def test_erasure_is_per_site(app, client, data_dir):
    signup(app)
    signup(app, site="bikes.test")
    ask(client, "me@example.com")
    client.post(links(data_dir)[0], data={"action": "erase"}, headers=H)
    with session_factory(app)() as session:
        assert session.scalars(sa.select(Signup.site)).all() == ["bikes.test"]


def test_bad_expired_and_foreign_links(app, client, data_dir):
    signup(app)
    ask(client, "me@example.com")
    [path] = links(data_dir)
    assert client.get(path[:-2] + "zz", headers=H).status_code == 404
    assert client.get(path, headers={"Host": "bikes.test"}).status_code == 404
    assert client.post(path, data={"action": "nope"}, headers=H).status_code == 400
    app.config["ACCESS_LINK_MAX_AGE"] = 1
    time.sleep(2.1)
    assert client.get(path, headers=H).status_code == 410


def test_links_are_capped_per_address_per_day(app, client, data_dir):
    signup(app)
    for _ in range(5):
        assert ask(client, "me@example.com").status_code == 200
    assert len(links(data_dir)) == 3


def test_bad_requests(app, client):
    assert client.post("/privacy/request", data="email=not-an-address",
                       headers={**H, **FORM}).status_code == 400
    assert client.post("/privacy/request", data="email=a@example.com",
                       headers={**H, **FORM, "Origin": "https://evil.example"}).status_code == 403
    assert client.post("/privacy/request", data=b'{"email": 1}',
                       headers={**H, "Content-Type": "application/json"}).status_code == 415
