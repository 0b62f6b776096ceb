"""The visitor's own data: ask by address, get a link by email, see it, download it, erase it."""

from __future__ import annotations

import json
import logging
import uuid
from email.message import EmailMessage
from functools import partial
from pathlib import Path

from email_validator import EmailNotValidError
from flask import Blueprint, Response, current_app, render_template, request
from sqlalchemy import delete, select
from werkzeug.exceptions import BadRequest, Gone, NotFound

from landingpad import ratelimit
from landingpad.mail.address import normalise_email
from landingpad.mail.message import build_message
from landingpad.mail.outbox import send_after_response
from landingpad.privacy.erasure import erase_mail_copies
from landingpad.sites import Site, current_site, require_public_site
from landingpad.storage import get_session
from landingpad.storage.events import record_erasure
from landingpad.storage.models import Announcement, ConsentText, Recipient, Signup
from landingpad.storage.signups import link_key_of
from landingpad.web.guards import check_form_body, refuse_cross_site, refuse_cross_site_posts
from landingpad.web.i18n import current_lang, email_problem, gettext, use_language
from landingpad.web.links import Refused, access_token, signup_for_token

log = logging.getLogger(__name__)
bp = Blueprint("access", __name__, url_prefix="/privacy", template_folder="templates")
bp.before_request(require_public_site)
bp.before_request(refuse_cross_site_posts)  # a cross-site page can't make a browser erase


def _link_message(site: Site, email: str, signup_id: int, lang: str) -> EmailMessage | None:
    """The see-or-erase link mail, built after the response (mail.outbox); None past the cap."""
    config = current_app.config
    link_key = link_key_of(get_session(), signup_id)
    if link_key is None:  # erased since the request
        return None
    if not ratelimit.take_mail("access", email, ratelimit.ACCESS_MAILS_PER_DAY):
        return None
    token = access_token(signup_id, link_key)
    url = f"{config['PUBLIC_SCHEME']}://{site.domain}/privacy/data/{token}"
    if site.multilingual:
        url += f"?lang={lang}"
    # Both parts from templates: the .html one is autoescaped, so no setting becomes markup.
    with use_language(site, lang):  # the language of the page the link was asked on
        text = render_template("privacy/access_email.txt", site=site, url=url)
        html = render_template("privacy/access_email.html", site=site, url=url)
        subject = gettext("Your data at %(title)s",
                          title=site.own_text(lang, "title") or site.title)
    return build_message(site, email, subject, text, html,
                         f"<access-{uuid.uuid4().hex}@{site.domain}>")


@bp.route("/request", methods=["GET", "POST"])
def request_link() -> tuple[str, int]:

    site = current_site()
    if request.method == "GET":
        return render_template("privacy/request.html", site=site, sent=False), 200
    refuse_cross_site()
    problem = check_form_body()
    if problem:
        raise BadRequest(problem)
    try:
        email = normalise_email(request.form.get("email", ""))
    except EmailNotValidError as exc:
        return render_template("privacy/request.html", site=site, sent=False,
                               error=email_problem(exc)), 400
    # The same lookup, page and status for every address; a link only goes to a known one.
    signup_id = get_session().scalar(select(Signup.id).where(Signup.site == site.domain,
                                                             Signup.email == email))
    if signup_id is not None:
        send_after_response(partial(_link_message, site, email, signup_id, current_lang()),
                            "access link")
    return render_template("privacy/request.html", site=site, sent=True), 200


def _signup_for(token: str) -> tuple[Site, Signup]:
    site = current_site()
    signup = signup_for_token(get_session(), "access", token, site.domain)
    if signup is Refused.EXPIRED:
        raise Gone(gettext("This link has expired. Ask for a new one on the privacy page."))
    if signup is Refused.INVALID:
        raise NotFound(gettext("Nothing is held for this link."))
    return site, signup


def _held(signup: Signup) -> dict:
    db = get_session()
    consent = db.get(ConsentText, signup.consent_version)
    rows = db.execute(select(Announcement.subject, Recipient.state, Recipient.sent_at)
                      .join(Announcement, Announcement.id == Recipient.announcement_id)
                      .where(Recipient.email == signup.email,
                             Recipient.site == signup.site)).all()
    stamp = lambda t: t.isoformat() if t else None  # noqa: E731
    return {
        "site": signup.site, "email": signup.email, "interests": signup.interests,
        "consent": {"version": signup.consent_version, "text": consent.text if consent else None,
                    "lang": consent.lang if consent else None,
                    "given_at": stamp(signup.consented_at),
                    # None: on this site's form; else the list it was imported from.
                    "source": signup.source},
        "language": signup.lang,
        "signed_up_at": stamp(signup.created_at), "confirmed_at": stamp(signup.confirmed_at),
        "unsubscribed_at": stamp(signup.unsubscribed_at),
        "emails": [{"subject": s, "state": st, "sent_at": stamp(at)} for s, st, at in rows],
    }


@bp.route("/data/<token>", methods=["GET", "POST"])
def data(token: str) -> Response | tuple[str, int]:
    site, signup = _signup_for(token)
    if request.method == "POST":
        if request.form.get("action") != "erase":
            raise BadRequest(gettext("Unknown action."))
        db = get_session()
        db.execute(delete(Recipient).where(Recipient.email == signup.email,
                                           Recipient.site == site.domain))
        record_erasure(db, [signup])
        db.delete(signup)
        db.commit()
        # The copies of mail to this address in the mail folder go too, as with `forget`.
        erase_mail_copies(Path(current_app.config["DATA_DIR"]) / "mail", signup.email)
        return render_template("privacy/erased.html", site=site), 200
    held = _held(signup)
    if request.args.get("format") == "json":
        return Response(json.dumps(held, indent=2, ensure_ascii=False),
                        mimetype="application/json", headers={
                            "Content-Disposition": f'attachment; filename="{site.domain}.json"',
                            "Cache-Control": "no-store"})
    return render_template("privacy/data.html", site=site, held=held, token=token), 200
