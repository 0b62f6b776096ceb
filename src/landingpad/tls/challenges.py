"""HTTP-01 answers in the shared database, so whichever node the CA reaches can answer."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from flask import Blueprint, Flask, Response, abort, request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from landingpad.sites.host import InvalidHost, normalize_host
from landingpad.storage import get_session
from landingpad.storage.models import Challenge
from landingpad.storage.types import utcnow

TOKEN = re.compile(r"[A-Za-z0-9_-]{1,128}")  # RFC 8555 8.3: base64url, no padding

bp = Blueprint("tls", __name__)


@bp.get("/.well-known/acme-challenge/<challenge>")
def answer(challenge: str) -> Response:
    """The key authorization for token ``challenge``, on the host it was published for;
    else 404. (Tokens are public: the CA fetches them over plain HTTP.)"""
    token = challenge
    if not TOKEN.fullmatch(token):
        abort(404)
    try:
        host = normalize_host(request.host)
    except InvalidHost:
        abort(404)
    row = get_session().get(Challenge, token)
    if row is None or row.host != host:
        abort(404)
    # Not cached by anyone: a token is answered only while its order runs.
    return Response(row.key_authorization, content_type="text/plain; charset=ascii",
                    headers={"Cache-Control": "no-store"})


def publisher(sessions: sessionmaker[Session], host: str
              ) -> tuple[Callable[[str, str], None], Callable[[str], None]]:
    """(publish, withdraw) for one host's challenges, each committed at once."""
    def publish(token: str, key_authorization: str) -> None:
        if not TOKEN.fullmatch(token):
            raise ValueError("the CA sent a token that is not base64url")
        with sessions() as session, session.begin():
            session.merge(Challenge(token=token, key_authorization=key_authorization,
                                    host=host, created_at=utcnow()))

    def withdraw(token: str) -> None:
        with sessions() as session, session.begin():
            session.execute(delete(Challenge).where(Challenge.token == token))

    return publish, withdraw


def sweep(session: Session, older_than_seconds: int = 3600) -> int:
    """Drop answers left behind by a killed orderer."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    stale = session.scalars(select(Challenge.token).where(Challenge.created_at < cutoff)).all()
    if stale:
        session.execute(delete(Challenge).where(Challenge.token.in_(stale)))
    return len(stale)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

