"""Public routes: the landing page, the sign-up post, the thank-you page."""

from __future__ import annotations

import logging

from email_validator import EmailNotValidError
from flask import Blueprint, Response, current_app, redirect, render_template, request
from werkzeug.exceptions import (
    Gone,
    NotFound,
    TooManyRequests,
)

from landingpad.mail.address import normalise_email
from landingpad.ratelimit import ROUTE_LIMITS
from landingpad.signup.confirm import confirm_after_response
from landingpad.signup.forms import SignupForm, quick_signup
from landingpad.signup.pages import TOKEN_SLOT, PageCache
from landingpad.signup.tokens import FormTokens, Verdict
from landingpad.sites import Site, current_site, require_public_site
from landingpad.storage import get_engine, get_session
from landingpad.storage.events import record_event, signup_payload
from landingpad.storage.models import EventKind
from landingpad.storage.signups import store_signup
from landingpad.storage.suppression import address_hash, unsuppress
from landingpad.storage.types import utcnow
from landingpad.web.guards import read_form_body, refuse_cross_site, refuse_cross_site_posts
from landingpad.web.i18n import consent, current_lang, gettext, lang_url
from landingpad.web.links import Refused, signup_for_token
from landingpad.welcome import welcome_after_response

log = logging.getLogger(__name__)
bp = Blueprint("signup", __name__, template_folder="templates")



def _tokens() -> FormTokens:
    return current_app.extensions["landingpad.tokens"]


def _pages() -> PageCache:
    return current_app.extensions["landingpad.pages"]


bp.before_request(require_public_site)
bp.before_request(refuse_cross_site_posts)  # /signup and /confirm/...: same-site posts only


def render_landing(site: Site, form: SignupForm | None = None, token: str = TOKEN_SLOT,
                   message: str | None = None) -> str:
    form = form or SignupForm.for_site(site, formdata=None)
    return render_template("signup/landing.html", site=site, form=form, token=token,
                           message=message)


@bp.get("/")
def landing() -> Response:
    site = current_site()
    page = _pages().get_or_build(site, current_lang(), render_landing)
    status, headers, body = page.respond(request.environ, _tokens().issue(site.domain))
    return Response(body, status=status, headers=headers)


def _form_error(site: Site, form: SignupForm, message: str | None, status: int) -> Response:
    html = render_landing(site, form, token=_tokens().issue(site.domain), message=message)
    return Response(html, status=status, headers={"Cache-Control": "no-store"})


@bp.post("/signup")
def signup() -> Response:
    site = current_site()
    refuse_cross_site()
    problem, fields = read_form_body()
    if problem:
        return _form_error(site, SignupForm.for_site(site, formdata=None), problem, 400)

    # The hot path: a plainly valid post is stored without building a WTForms form.
    # Anything else (a bot, an old form, a field to correct) takes the full form below.
    quick = quick_signup(fields, site.interests)
    if quick is not None and _tokens().check(site.domain, quick.token) is Verdict.OK:
        try:
            email = normalise_email(quick.email)
        except EmailNotValidError:
            pass  # the form words the error
        else:
            return _store(site, email, quick.interests)

    form = SignupForm.for_site(site)
    verdict = _tokens().check(site.domain, form.token.data)
    if form.website.data or verdict in (Verdict.INVALID, Verdict.TOO_FAST):
        # A bot: it gets exactly what a person gets, and nothing is stored.
        return redirect(lang_url(".thanks"), 303)
    if verdict is Verdict.EXPIRED:
        return _form_error(site, form, gettext("This form was open for too long. "
                                               "Please send it again."), 400)
    if not form.validate():
        return _form_error(site, form, gettext("Please correct the marked fields."), 400)
    return _store(site, form.normalised_email, form.interests.data or [])


def _store(site: Site, email: str, interests: list[str]) -> Response:
    lang = current_lang()
    version, text = consent(site)  # the sentence shown, in the language shown
    stored = store_signup(
        get_engine(), site=site.domain, email=email, interests=interests,
        consent_version=version, consent_text=text, lang=lang,
        address_hash=address_hash(current_app.config["SECRET_KEY"], email),
        double_optin=site.double_optin)
    # Whether a confirmation is due (and its mail) is settled after the response: its
    # duration must not tell a new address from a known or suppressed one.
    confirm_after_response(site, email, stored, lang)
    if stored.created and not site.double_optin and not stored.suppressed:
        welcome_after_response(site, stored.id)
    return redirect(lang_url(".thanks"), 303)


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> tuple[str, int]:
    """GET shows a button (mail scanners follow links); only POST confirms."""
    site = current_site()
    signup = signup_for_token(get_session(), "confirm", token, site.domain)
    if signup is Refused.EXPIRED:
        raise Gone(gettext("This confirmation link has expired. "
                           "Please sign up again for a new one."))
    if signup is Refused.INVALID:
        raise NotFound(gettext("This confirmation link is not valid."))
    if request.method == "POST":
        # Confirming is the address's owner asking for mail: it also undoes an
        # earlier unsubscribe or erasure of this address.
        news = signup.confirmed_at is None or signup.unsubscribed_at is not None
        signup.confirmed_at = signup.confirmed_at or utcnow()
        signup.unsubscribed_at = None
        unsuppress(get_session(), current_app.config["SECRET_KEY"], signup.email)
        if news:  # a second click changes nothing: no second event
            record_event(get_session(), EventKind.CONFIRMED, signup.site,
                         signup_payload(signup), signup_id=signup.id)
        get_session().commit()
        if news:
            welcome_after_response(site, signup.id)
        return render_template("signup/confirm.html", site=site, done=True), 200
    return render_template("signup/confirm.html", site=site, done=False), 200


@bp.get("/too-many-requests")
def too_many_requests() -> Response:
    """The styled page nginx shows (error_page 429) when a client posts too often."""
    raise TooManyRequests(ROUTE_LIMITS["signup.signup"][1], retry_after=60)


@bp.get("/thanks")
def thanks() -> str:
    return render_template("signup/thanks.html", site=current_site())
