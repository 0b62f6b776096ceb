"""Logos in the admin area: upload through the app, or straight from the browser to S3."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from itsdangerous import BadSignature, URLSafeTimedSerializer

from landingpad.admin.views import login_required
from landingpad.assets import (
    PRESIGN_SECONDS,
    BadImage,
    StoreError,
    Uploaded,
    get_store,
    incoming_key,
    save_upload,
    use_as_logo,
    verify_direct_upload,
)
from landingpad.deploy import DomainError
from landingpad.sites import get_registry
from landingpad.web.headers import csp

bp = Blueprint("logos", __name__, url_prefix="/logos", template_folder="templates")


class UploadForm(FlaskForm):
    file = FileField("Logo image (PNG, JPEG, GIF or WebP)",
                     validators=[FileRequired("Choose an image file.")])


def _site(domain: str) -> str:
    if domain not in get_registry().domains():
        abort(404)
    return domain


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="landingpad.direct")


def _this_origin() -> str:
    """This admin page's origin, port included: the bucket sends the browser back here.

    nginx's stock uwsgi_params pass HTTP_HOST as $host, which drops the port, so
    an admin on a non-default port (the demo, the tests) takes it from SERVER_PORT.
    """
    host, port = request.host, request.environ.get("SERVER_PORT", "")
    default = "443" if request.scheme == "https" else "80"
    if ":" not in host and port.isdigit() and port != default:
        host = f"{host}:{port}"
    return f"{request.scheme}://{host}"


def _direct_form(domain: str) -> dict | None:
    """A presigned POST for this site, or None with the local store."""
    key = incoming_key(domain)
    state = _signer().dumps({"key": key, "domain": domain})
    # The state goes in the path: S3 servers append their own query (SeaweedFS even
    # replaces it).
    back = _this_origin() + url_for(".direct_done", domain=domain, state=state)
    try:
        return get_store().presigned_post(key, current_app.config["ASSET_MAX_BYTES"], back)
    except StoreError as exc:
        current_app.logger.warning("no presigned POST: %s", exc)
        return None


SHOWN = 100  # sites linked on the index; the rest are reached by name (10,000 domains)


@bp.get("/")
@login_required
def index() -> Any:
    domains = get_registry().domains()
    wanted = request.args.get("site", "").strip().lower()
    if wanted and wanted in domains:
        return redirect(url_for(".site", domain=wanted), 303)
    return render_template("admin/logos.html", domains=domains[:SHOWN], total=len(domains),
                           wanted=wanted), 404 if wanted else 200


@bp.get("/<domain>")
@login_required
def site(domain: str) -> Response:
    current = get_registry().site_for_host(_site(domain))
    direct = _direct_form(domain)
    response = Response(render_template("admin/logo.html", site=current, direct=direct,
                                        form=UploadForm()))
    if direct:  # the form posts to the bucket; a small script fills in the file's type
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(direct["url"]))
        response.headers["Content-Security-Policy"] = csp(form_origin=origin, script=True)
    return response


def _take(domain: str, work: Callable[[], Uploaded]) -> tuple[bool, str]:
    """Run the upload's check-and-store, make it the logo; (ok, message for the owner)."""
    try:
        uploaded = work()
        use_as_logo(current_app.config, domain, uploaded)
    except (BadImage, StoreError, DomainError) as exc:
        return False, f"Not uploaded: {exc}"
    return True, f"{uploaded.message}; it is now the logo of {domain}."


@bp.post("/<domain>")
@login_required
def upload(domain: str) -> Response:
    domain = _site(domain)
    form = UploadForm()
    if form.validate_on_submit():
        data = form.file.data.stream.read(current_app.config["ASSET_MAX_BYTES"] + 1)
        name = form.file.data.filename or ""
        ok, message = _take(domain, lambda: save_upload(get_store(), current_app.config,
                                                        domain, name, data))
        flash(message, "info" if ok else "error")
    else:
        for error in (e for errors in form.errors.values() for e in errors):
            flash(f"Not uploaded: {error}", "error")
    return redirect(url_for(".site", domain=domain), 303)


@bp.get("/<domain>/direct/<state>")
def direct_done(domain: str, state: str) -> tuple[str, int]:
    """Where the bucket sends the browser back after a direct upload: check, then use it.

    No login check here, and no session use: the browser arrives by a redirect from
    the bucket (another site), so the SameSite=Strict session cookie is not sent.
    The signed, short-lived state, issued only on the logged-in logo page, is the
    authority instead. The page answers in place; its link back is same-site again.
    """
    domain = _site(domain)
    try:
        claims = _signer().loads(state, max_age=PRESIGN_SECONDS + 60)
    except BadSignature:
        claims = None
    if not isinstance(claims, dict) or claims.get("domain") != domain:
        ok, message = False, "Not uploaded: that upload link is not valid or has expired."
    else:
        ok, message = _take(domain, lambda: verify_direct_upload(
            get_store(), current_app.config, domain, claims["key"]))
    return render_template("admin/upload_done.html", ok=ok, domain=domain,
                           message=message), 200 if ok else 400
