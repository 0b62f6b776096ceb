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


def _direct_form(domain: str) -> dict | None:
    """A presigned POST for this site, or None with the local store."""
    key = incoming_key(domain)
    back = url_for(".direct_done", domain=domain, state=_signer().dumps(key), _external=True)
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


@bp.get("/<domain>/direct")
@login_required
def direct_done(domain: str) -> Any:
    """Where the bucket sends the browser back after a direct upload: check, then use it."""
    domain = _site(domain)
    try:
        key = _signer().loads(request.args.get("state", ""), max_age=PRESIGN_SECONDS + 60)
    except BadSignature:
        flash("Not uploaded: that upload link is not valid or has expired.", "error")
        return redirect(url_for(".index"), 303)
    return _done(domain, lambda: verify_direct_upload(get_store(), current_app.config,
                                                      domain, key))
