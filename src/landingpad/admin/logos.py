"""Logos in the admin area: upload through the app, or straight from the browser to S3."""

from __future__ import annotations

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
from landingpad.assets import get_store
from landingpad.assets.images import BadImage
from landingpad.assets.store import PRESIGN_SECONDS, StoreError, incoming_key
from landingpad.assets.upload import save_upload, use_as_logo, verify_direct_upload
from landingpad.deploy.domains import DomainError
from landingpad.security import csp
from landingpad.sites import get_registry

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


@bp.get("/")
@login_required
def index() -> Response:
    registry = get_registry()
    sites = [registry.site_for_host(d) for d in registry.domains()]
    direct = {s.domain: _direct_form(s.domain) for s in sites}
    response = Response(render_template("admin/logos.html", sites=sites, direct=direct,
                                        form=UploadForm()))
    origins = {"{0.scheme}://{0.netloc}".format(urlsplit(d["url"])) for d in direct.values() if d}
    response.headers["Content-Security-Policy"] = csp(form_origin=" ".join(sorted(origins)),
                                                      script=bool(origins))
    return response


def _done(domain: str, work: Any) -> Response:
    try:
        uploaded = work()
        use_as_logo(current_app.config, domain, uploaded)
    except (BadImage, StoreError, DomainError) as exc:
        flash(f"Not uploaded: {exc}", "error")
    else:
        flash(f"{uploaded.message}; it is now the logo of {domain}.", "info")
    return redirect(url_for(".index"), 303)


@bp.post("/<domain>")
@login_required
def upload(domain: str) -> Any:
    domain = _site(domain)
    form = UploadForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(f"Not uploaded: {error}", "error")
        return redirect(url_for(".index"), 303)
    file = form.file.data
    max_bytes = current_app.config["ASSET_MAX_BYTES"]
    data = file.stream.read(max_bytes + 1)
    return _done(domain, lambda: save_upload(get_store(), current_app.config, domain,
                                             file.filename or "", data))


@bp.get("/<domain>/direct/<state>")
def direct_done(domain: str, state: str) -> tuple[str, int]:
    """Where the bucket sends the browser back after a direct upload: check, then use it.

    No login check here, and no session use: the browser arrives by a redirect from
    the bucket (another site), so the SameSite=Strict session cookie is not sent.
    The signed, short-lived state, issued only on the logged-in logos page, is the
    authority instead. The page answers in place; its link back is same-site again.
    """
    domain = _site(domain)
    try:
        state = _signer().loads(state, max_age=PRESIGN_SECONDS + 60)
    except BadSignature:
        state = None
    if not isinstance(state, dict) or state.get("domain") != domain:
        return render_template("admin/upload_done.html", ok=False, domain=domain,
                               message="That upload link is not valid or has expired."), 400
    try:
        uploaded = verify_direct_upload(get_store(), current_app.config, domain, state["key"])
        use_as_logo(current_app.config, domain, uploaded)
    except (BadImage, StoreError, DomainError) as exc:
        return render_template("admin/upload_done.html", ok=False, domain=domain,
                               message=str(exc)), 400
    return render_template("admin/upload_done.html", ok=True, domain=domain,
                           message=f"{uploaded.message}; it is now the logo of {domain}."), 200
