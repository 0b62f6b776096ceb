"""Every public page and every mail to a visitor, in every shipped language.

One app for the module (SQLite, a folder for mail): a site offering every shipped
language, each page asked for with ?lang=. A page passes when it is marked up in its
language (lang, dir) and holds none of the English page's sentences.
"""

from __future__ import annotations

import email
import html
import re
import shutil
import time
from email.message import Message
from pathlib import Path

import pytest
from sqlalchemy import select

from landingpad import create_app
from landingpad.sites import languages
from landingpad.storage import session_factory
from landingpad.storage.models import ConsentText, Signup
from landingpad.web.links import access_token, confirm_token, unsubscribe_token

SITE = "world.test"
SITES = f"""\
[sites."{SITE}"]
LANDING_TITLE = "Globe"
LANDING_EMAIL = "owner@world.example"
LANDING_INTERESTS = ["Maps"]
LANDING_DOUBLE_OPTIN = true
LANDING_LANGS = {list(languages.SHIPPED)!r}

[sites."{SITE}".LANDING_TEXT.de]
button = "Sag mir <b>Bescheid</b>"
"Privacy notice" = "Datenschutz & mehr"

[sites."hallo.test"]
LANDING_LANG = "de-AT"
"""
# What the site itself says (its title, addresses, interests): the same in every language.
SITE_WORDS = {"Globe", "owner@world.example", "Maps", "Contact owner@world.example",
              "Back to Globe", "name@example.com"}


@pytest.fixture(scope="module")
def app(tmp_path_factory, sqlite_template):
    folder = tmp_path_factory.mktemp("languages")
    (folder / "sites.toml").write_text(SITES)
    shutil.copy(sqlite_template, folder / "db.sqlite")
    app = create_app({"TESTING": True, "DATA_DIR": str(folder),
                      "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite'}",
                      "SECRET_KEY": "x" * 32, "SITES_CHECK_SECONDS": 0.0,
                      "SIGNUP_RATE": "10000/minute", "PRIVACY_RATE": "10000/hour"})
    yield app
    app.extensions["landingpad.db"].dispose()


def visible(page: str) -> list[str]:
    """The sentences a visitor reads: text between tags, and alt/label attributes."""
    page = re.sub(r"(?s)<(style|script)\b.*?</\1>", "", page)
    page = re.sub(r"(?s)<head>.*?</head>", "", page)
    page = re.sub(r'(?s)<nav class="langs".*?</nav>', "", page)  # each in its own language
    chunks = re.split(r"<[^>]*>", page)
    return [c for c in (html.unescape(" ".join(c.split())) for c in chunks)
            if len(re.findall(r"[A-Za-z]{2,}", c)) >= 2 and c not in SITE_WORDS]


class Visitor:
    def __init__(self, app, lang: str) -> None:
        self.app, self.lang = app, lang
        self.client = app.test_client()
        self.email = f"{lang}@example.com"

    def get(self, path: str, **kw):
        return self.client.get(self._at(path), headers={"Host": SITE}, **kw)

    def post(self, path: str, data: dict, **kw):
        return self.client.post(self._at(path), data=data, headers={"Host": SITE},
                                buffered=True, **kw)

    def _at(self, path: str) -> str:
        return f"{path}{'&' if '?' in path else '?'}lang={self.lang}"

    def signup_row(self) -> Signup:
        with session_factory(self.app)() as db:
            return db.scalars(select(Signup).where(Signup.email == self.email)).one()


def pages(visitor: Visitor) -> dict[str, tuple[int, str]]:
    """Each public page as this visitor sees it: status and HTML; and the mails it got
    (``visitor.mails``: read before the erasure, which deletes their copies)."""
    app, seen = visitor.app, {}

    def keep(name, response):
        seen[name] = (response.status_code, response.get_data(as_text=True))
        return response

    keep("landing", visitor.get("/"))
    token = app.extensions["landingpad.tokens"].issue(SITE, now=time.time() - 5)
    keep("form error", visitor.post("/signup", {"email": "nope", "consent": "y",
                                                "token": token}))
    keep("form error: domain", visitor.post("/signup", {"email": "a@b", "token": token}))
    keep("form error: choice", visitor.post("/signup", {"email": visitor.email, "consent": "y",
                                                        "interests": "Nope", "token": token}))
    signed = visitor.post("/signup", {"email": visitor.email, "consent": "y", "token": token})
    assert signed.status_code == 303 and f"lang={visitor.lang}" in signed.location
    keep("thanks", visitor.client.get(signed.location, headers={"Host": SITE}))
    keep("privacy notice", visitor.get("/privacy"))
    keep("privacy request", visitor.get("/privacy/request"))
    keep("privacy request: bad address", visitor.post("/privacy/request", {"email": "x@"}))
    keep("privacy request: sent", visitor.post("/privacy/request", {"email": visitor.email}))
    row = visitor.signup_row()
    visitor.mails = mails_to(app, visitor.email)
    with app.app_context():
        confirm, data, leave = (make(row.id, row.link_key) for make in (
            confirm_token, access_token, unsubscribe_token))
    keep("confirm", visitor.get(f"/confirm/{confirm}"))
    keep("confirmed", visitor.post(f"/confirm/{confirm}", {}))
    keep("confirm: bad link", visitor.get("/confirm/nonsense"))
    keep("see your data", visitor.get(f"/privacy/data/{data}"))
    keep("unsubscribe", visitor.get(f"/unsubscribe/{leave}"))
    keep("unsubscribed", visitor.post(f"/unsubscribe/{leave}", {}))
    keep("erased", visitor.post(f"/privacy/data/{data}", {"action": "erase"}))
    keep("404", visitor.get("/no-such-page"))
    keep("429", visitor.get("/too-many-requests"))
    return seen


@pytest.fixture(scope="module")
def english_visitor(app):
    visitor = Visitor(app, "en")
    visitor.pages = pages(visitor)
    return visitor


@pytest.fixture(scope="module")
def english(english_visitor):
    return english_visitor.pages


def mails_to(app, address: str) -> dict[str, Message]:
    """The mails to ``address`` by kind (confirm, access), from the mail folder."""
    found = {}
    for path in Path(app.config["DATA_DIR"], "mail").glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes())
        if message["To"] == address:
            found[path.name.split("-")[0]] = message
    return found


def texts_of(message: Message) -> tuple[str, str]:
    parts = {p.get_content_type(): p.get_payload(decode=True).decode()
             for p in message.walk() if not p.is_multipart()}
    return parts["text/plain"], parts["text/html"]


EXPECTED = {"landing": 200, "form error": 400, "form error: domain": 400,
            "form error: choice": 400, "thanks": 200,
            "privacy notice": 200, "privacy request": 200,
            "privacy request: bad address": 400, "privacy request: sent": 200,
            "confirm": 200, "confirmed": 200, "confirm: bad link": 404,
            "see your data": 200, "unsubscribe": 200, "unsubscribed": 200, "erased": 200,
            "404": 404, "429": 429}


@pytest.mark.parametrize("lang", [lang for lang in languages.SHIPPED if lang != "en"])
def test_every_public_page_and_mail_is_in_the_language_asked_for(app, english,
                                                                 english_visitor, lang):
    visitor = Visitor(app, lang)
    seen = pages(visitor)
    assert {name: status for name, (status, _) in seen.items()} == EXPECTED
    rtl = ' dir="rtl"' if lang in languages.RTL else ""
    for name, (_, page) in seen.items():
        assert f'<html lang="{lang}"{rtl}>' in page, name
        left = set(visible(english[name][1])) & set(visible(page))
        assert not left, f"{lang} {name}: English left: {left}"
    # Mails: the confirmation (asked for on the sign-up) and the access link.
    assert sorted(visitor.mails) == ["access", "confirm"]
    for kind, message in visitor.mails.items():
        model = english_visitor.mails[kind]
        assert message["Subject"] != model["Subject"]
        text, page = texts_of(message)
        model_text, model_page = texts_of(model)
        assert f'<html lang="{lang}"{rtl}>' in page
        assert not set(visible(model_page)) & set(visible(page))
        lines = {line.strip() for line in model_text.splitlines() if line.count(" ") > 1}
        assert not lines & {line.strip() for line in text.splitlines()}
        assert f"?lang={lang}" in text  # the link opens the page in the same language


def test_the_english_pages_and_mails_read_as_before(english, english_visitor):
    landing = english["landing"][1]
    assert '<html lang="en">' in landing and "Notify me" in landing
    assert "I agree to get email about Globe when it launches." in landing
    assert "Your email address" in landing
    assert "An email address has one @ sign" in english["form error"][1]
    assert "There is no page at this address." in english["404"][1]
    confirm, access = english_visitor.mails["confirm"], english_visitor.mails["access"]
    assert confirm["Subject"] == "Please confirm your sign-up to Globe"
    assert access["Subject"] == "Your data at Globe"


def test_the_owners_words_win_and_are_escaped(app):
    page = Visitor(app, "de").get("/").get_data(as_text=True)
    assert "Sag mir &lt;b&gt;Bescheid&lt;/b&gt;</button>" in page
    assert ">Datenschutz &amp; mehr</a>" in page
    assert "Benachrichtigen" not in page


def test_the_consent_stored_is_the_sentence_shown_in_its_language(app):
    from landingpad.privacy import access  # noqa: F401 - the JSON export below

    visitor = Visitor(app, "de")
    visitor.email = "consent-de@example.com"
    token = app.extensions["landingpad.tokens"].issue(SITE, now=time.time() - 5)
    shown = visitor.get("/").get_data(as_text=True)
    assert visitor.post("/signup", {"email": visitor.email, "consent": "y",
                                    "token": token}).status_code == 303
    row = visitor.signup_row()
    with session_factory(app)() as db:
        consent = db.get(ConsentText, row.consent_version)
    assert consent.lang == "de" and row.lang == "de"
    assert consent.text == "Ich möchte per E-Mail informiert werden, wenn Globe startet."
    assert html.escape(consent.text, quote=False) in shown
    with app.app_context():
        data = access_token(row.id, row.link_key)
    export = visitor.get(f"/privacy/data/{data}?format=json").get_json()
    assert export["consent"] == {"version": row.consent_version, "text": consent.text,
                                 "lang": "de", "given_at": export["consent"]["given_at"],
                                 "source": None}  # given on this site's form
    assert export["language"] == "de"


@pytest.mark.parametrize(("header", "lang"), [
    ("de-DE,de;q=0.9,en;q=0.8", "de"),
    ("sv-SE, de;q=0.5, en;q=0.7", "en"),
    ("en;q=0.1, de", "de"),
    ("de;q=0", "en"),
    ("*", "en"),
    ("", "en"),
    ("tlh, de-AT", "de"),
])
def test_the_landing_page_follows_accept_language_and_says_it_varies(app, header, lang):
    client = app.test_client()
    for _ in range(2):  # rendered, then from the page cache (the WSGI fast path)
        response = client.get("/", headers={"Host": SITE, "Accept-Language": header})
        assert f'<html lang="{lang}"' in response.get_data(as_text=True)
        assert response.headers["Content-Language"] == lang
        assert "Accept-Language" in response.headers["Vary"]


def test_a_lang_link_wins_over_the_browser_and_a_page_links_the_other_languages(app):
    client = app.test_client()
    page = client.get("/?lang=ja", headers={"Host": SITE, "Accept-Language": "de"})
    text = page.get_data(as_text=True)
    assert '<html lang="ja">' in text
    assert '<a href="/?lang=de" hreflang="de" lang="de" dir="ltr">Deutsch</a>' in text
    assert 'hreflang="ar" lang="ar" dir="rtl">العربية</a>' in text
    assert '/?lang=ja" hreflang="ja"' not in text.split("<footer>")[1]  # not itself
    unknown = client.get("/?lang=tlh", headers={"Host": SITE, "Accept-Language": "de"})
    assert '<html lang="de">' in unknown.get_data(as_text=True)


def test_a_404_pages_language_links_stay_on_the_site(app):
    # The visitor writes the path: "/\\evil.example" would be a link to //evil.example.
    client = app.test_client()
    for path in ("/\\evil.example/x", "//evil.example/x", "/%5Cevil.example"):
        page = client.get(path, headers={"Host": SITE, "Accept-Language": "de"})
        assert page.status_code == 404
        links = re.findall(r'<a href="([^"]*)" hreflang=', page.get_data(as_text=True))
        assert links and all(link.startswith("/") and link[1] not in "/\\"
                             for link in links), links


def test_a_site_in_one_language_is_in_it_whatever_the_browser_asks(app):
    response = app.test_client().get("/", headers={"Host": "hallo.test",
                                                   "Accept-Language": "fr, en"})
    page = response.get_data(as_text=True)
    assert '<html lang="de-AT">' in page and "Benachrichtigen" in page
    assert response.headers["Vary"] == "Accept-Encoding"
    assert response.headers["Content-Language"] == "de-AT"
    assert 'class="langs"' not in page and "hreflang" not in page
