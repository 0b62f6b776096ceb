"""Emailed links act only on the row they were issued for; public POSTs are same-site
only (one-click unsubscribe excepted); Message-IDs never repeat; erasure from the web
takes the address's mail copies too. Issue 16, items 2, 8, 10 (Message-ID), 12 (mail)."""

from __future__ import annotations

import email
import json
import re
from datetime import timedelta
from email import policy

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from landingpad.announce.recipients import materialise
from landingpad.announce.sender import Sender
from landingpad.mail.transports import make_transport
from landingpad.privacy.erasure import plan_purge, purge
from landingpad.sites import get_registry
from landingpad.storage import session_factory
from landingpad.storage.models import Announcement, Signup
from landingpad.storage.signups import record_signup
from landingpad.storage.types import utcnow
from tests.reliability.test_security import snapshot
from tests.unit.admin.conftest import ADMIN, PASSWORD, csrf_token

SITE = "bikes.test"  # double opt-in: every kind of link exists there
H = {"Host": SITE}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CROSS_SITE = [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
              {"Origin": "https://evil.example", "Sec-Fetch-Site": "same-site"},
              {"Origin": f"http://{SITE}.evil.example"}]
LINK = re.compile(rf"https?://{re.escape(SITE)}(/(confirm|unsubscribe|privacy/data)/[^\s<>\"]+)")


def add(app, address, days_ago=0):
    with session_factory(app)() as session:
        return record_signup(session, site=SITE, email=address, interests=[],
                             consent_version="v1", consent_text="I agree",
                             now=utcnow() - timedelta(days=days_ago))[0]


def mail_to(data_dir, address):
    """The mails in the mail folder to this address, parsed."""
    mail = data_dir / "mail"
    found = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
             for p in sorted(mail.glob("*.eml"))] if mail.is_dir() else []
    return [m for m in found if m["To"] == address]


def emailed_links(app, client, token, data_dir, address):
    """Sign up through the form, confirm by the mailed link, ask for the data link and
    get an announcement: the links the address holds, as its owner got them."""
    assert client.post("/signup", data={"email": address, "consent": "y",
                                        "token": token(SITE)},
                       headers=H, buffered=True).status_code == 303
    assert client.post("/privacy/request", data={"email": address}, headers=H,
                       buffered=True).status_code == 200
    urls = {}
    for message in mail_to(data_dir, address):
        text = message.get_body(("plain",)).get_content()
        for path, kind in LINK.findall(text):
            urls[kind] = path
    assert client.post(urls["confirm"], headers=H).status_code == 200
    send_announcement(app)
    for message in mail_to(data_dir, address):
        for path, kind in LINK.findall(message.get_body(("plain",)).get_content()):
            urls.setdefault(kind, path)
    assert set(urls) == {"confirm", "unsubscribe", "privacy/data"}, urls
    with session_factory(app)() as session:
        sid = session.scalar(select(Signup.id).where(Signup.email == address))
    return sid, urls


def row(app, sid):
    with session_factory(app)() as session:
        found = session.get(Signup, sid)
        return None if found is None else (found.email, found.confirmed_at,
                                           found.unsubscribed_at)


def every_use(client, urls):
    """Each thing an emailed link can do: (what, response)."""
    form = {**H, **FORM}
    yield "confirm GET", client.get(urls["confirm"], headers=H)
    yield "confirm POST", client.post(urls["confirm"], data="", headers=form)
    yield "unsubscribe GET", client.get(urls["unsubscribe"], headers=H)
    yield "unsubscribe one-click", client.post(urls["unsubscribe"],
                                               data="List-Unsubscribe=One-Click", headers=form)
    yield "data GET", client.get(urls["privacy/data"], headers=H)
    yield "data JSON", client.get(urls["privacy/data"] + "?format=json", headers=H)
    yield "data erase", client.post(urls["privacy/data"], data="action=erase", headers=form)


def erase_by_link(app, client, sid, urls):
    response = client.post(urls["privacy/data"], data="action=erase", headers={**H, **FORM})
    assert response.status_code == 200


def delete_in_admin(app, client, sid, urls):
    client.post("/login", data={"email": "owner@example.com", "password": PASSWORD,
                                "csrf_token": csrf_token(client)}, headers={"Host": ADMIN})
    token = csrf_token(client, "/signups")
    response = client.post("/signups/delete", data={"ids": [sid], "confirm": "yes",
                                                    "csrf_token": token},
                           headers={"Host": ADMIN})
    assert response.status_code == 302


def run_purge(app, client, sid, urls):
    with session_factory(app)() as session:
        session.get(Signup, sid).unsubscribed_at = utcnow() - timedelta(days=40)
        session.commit()
        purge(session, plan_purge(session, get_registry(app), 7, 30, 180))


@pytest.mark.parametrize("remove", [erase_by_link, delete_in_admin, run_purge],
                         ids=["erasure", "admin delete", "purge"])
def test_old_links_never_reach_the_next_signup(app, client, token, data_dir, remove):
    alice, old = emailed_links(app, client, token, data_dir, "alice@example.com")
    assert client.get(old["privacy/data"], headers=H).status_code == 200  # they worked
    remove(app, client, alice, old)
    assert row(app, alice) is None

    # The next sign-up never gets the freed id (SQLite reused the highest rowid)...
    bob = add(app, "bob@example.com")
    assert bob > alice
    # ...and even a row that has it (restored, or reused before the upgrade) is not
    # reached: the links carry the key of the row they were made for.
    with session_factory(app)() as session:
        session.get(Signup, bob).id = alice
        session.commit()
    for what, response in every_use(client, old):
        assert response.status_code == 404, what
        assert b"bob@example.com" not in response.data, what
    assert row(app, alice) == ("bob@example.com", None, None)


def test_links_still_work_for_their_own_row(app, client, token, data_dir):
    sid, urls = emailed_links(app, client, token, data_dir, "carol@example.com")
    held = json.loads(client.get(urls["privacy/data"] + "?format=json", headers=H).data)
    assert held["email"] == "carol@example.com"
    assert client.post(urls["unsubscribe"], data="List-Unsubscribe=One-Click",
                       headers={**H, **FORM}).status_code == 200
    _, confirmed, unsubscribed = row(app, sid)
    assert confirmed is not None and unsubscribed is not None


# -- cross-site posts ------------------------------------------------------------------

@pytest.mark.parametrize("headers", CROSS_SITE)
def test_cross_site_posts_to_confirm_and_data_are_refused(app, client, token, data_dir,
                                                          headers):
    sid, urls = emailed_links(app, client, token, data_dir, "dave@example.com")
    with session_factory(app)() as session:
        session.get(Signup, sid).confirmed_at = None  # so that a confirm would show
        session.commit()
    before = snapshot(app, data_dir)
    form = {**H, **FORM, **headers}
    confirm = client.post(urls["confirm"], data="", headers=form)
    erase = client.post(urls["privacy/data"], data="action=erase", headers=form)
    assert confirm.status_code == erase.status_code == 403
    assert snapshot(app, data_dir) == before
    # The same posts from the site's own pages do what they say.
    same = {**H, **FORM, "Origin": f"https://{SITE}", "Sec-Fetch-Site": "same-origin"}
    assert client.post(urls["confirm"], data="", headers=same).status_code == 200
    assert row(app, sid)[1] is not None
    assert client.post(urls["privacy/data"], data="action=erase",
                       headers=same).status_code == 200
    assert row(app, sid) is None


def test_every_public_post_but_one_click_unsubscribe_refuses_cross_site(app, client, token,
                                                                        data_dir):
    """Walks the public URL map: a POST route added later is covered too."""
    _, urls = emailed_links(app, client, token, data_dir, "erin@example.com")
    valid = {"/confirm/<token>": urls["confirm"], "/privacy/data/<token>": urls["privacy/data"]}
    before = snapshot(app, data_dir)
    checked = set()
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.endpoint == "privacy.unsubscribe":
            continue
        path = valid.get(rule.rule, rule.rule)
        assert "<" not in path, f"{rule.rule}: give the walk a valid link for it"
        for headers in CROSS_SITE:
            response = client.post(path, data="action=erase&email=erin%40example.com",
                                   headers={**H, **FORM, **headers})
            assert response.status_code == 403, (rule.rule, headers)
        checked.add(rule.rule)
    assert checked >= {"/signup", "/confirm/<token>", "/privacy/request",
                       "/privacy/data/<token>"}
    assert snapshot(app, data_dir) == before


@pytest.mark.parametrize("headers", [{}, *CROSS_SITE])
def test_one_click_unsubscribe_stays_open_to_mail_providers(app, client, token, data_dir,
                                                            headers):
    """RFC 8058: the provider POSTs from its own servers, with or without an Origin."""
    sid, urls = emailed_links(app, client, token, data_dir, "fran@example.com")
    response = client.post(urls["unsubscribe"], data="List-Unsubscribe=One-Click",
                           headers={**H, **FORM, **headers})
    assert response.status_code == 200
    assert row(app, sid)[2] is not None


# -- Message-IDs -------------------------------------------------------------------------

def send_announcement(app, created_days_ago=0):
    with app.app_context(), session_factory(app)() as session:
        item = Announcement(subject="News", body_markdown="Hello", sites=[SITE],
                            created_at=utcnow() - timedelta(days=created_days_ago))
        session.add(item)
        session.commit()
        materialise(session, item, get_registry(app))
        ident = item.id
    Sender(app, ident, make_transport(app.config)).run()


def message_ids(data_dir):
    return [email.message_from_bytes(p.read_bytes())["Message-ID"]
            for p in (data_dir / "mail").glob("announce-*.eml")]


def test_message_ids_never_repeat_after_a_purge(app, data_dir):
    sid = add(app, "gina@example.com")
    with session_factory(app)() as session:
        session.get(Signup, sid).confirmed_at = utcnow()
        session.commit()
    send_announcement(app, created_days_ago=200)
    [first] = message_ids(data_dir)
    with session_factory(app)() as session:
        purge(session, plan_purge(session, get_registry(app), 7, 30, 180))
        assert session.scalar(select(sa.func.count()).select_from(Announcement)) == 0
    send_announcement(app)
    found = message_ids(data_dir)
    assert len(found) == len(set(found)) == 2 and first in found


# -- erasure from the web takes the mail copies ---------------------------------------

def test_erasure_from_the_web_removes_the_addresss_mail_copies(app, client, token, data_dir):
    add(app, "jimhank@example.com", days_ago=1)  # a longer address holding hers: not hers
    with session_factory(app)() as session:
        session.scalars(select(Signup)).one().confirmed_at = utcnow()
        session.commit()
    _, urls = emailed_links(app, client, token, data_dir, "hank@example.com")
    mail = data_dir / "mail"
    assert len(mail_to(data_dir, "hank@example.com")) == 3  # confirm, data link, news
    others = sorted(p.name for p in mail.glob("*.eml") if b"jimhank@" in p.read_bytes())
    assert len(others) == 1
    erased = client.post(urls["privacy/data"], data="action=erase", headers={**H, **FORM})
    assert erased.status_code == 200
    assert mail_to(data_dir, "hank@example.com") == []
    assert not any(b"hank@example.com" in p.read_bytes().replace(b"jimhank@", b"")
                   for p in mail.glob("*.eml"))
    assert sorted(p.name for p in mail.glob("*.eml")) == others
