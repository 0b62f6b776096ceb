"""What ``tls status`` and the admin's Certificates page show: one row per host name."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from flask import Flask
from sqlalchemy import select

from landingpad.sites import get_registry
from landingpad.storage import session_factory
from landingpad.storage.models import Certificate, CertState
from landingpad.storage.types import utcnow
from landingpad.tls import store
from landingpad.tls.queue import Limits, last_pending_estimate


@dataclass(frozen=True)
class StatusRow:
    domain: str  # the host name (a domain or one of its aliases)
    state: str
    not_after: datetime | None
    next_attempt: datetime | None
    last_error: str | None
    source: str  # "acme", "owner" (the sites file's own paths) or ""

    def as_json(self) -> dict:
        data = asdict(self)
        for key in ("not_after", "next_attempt"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


def rows(app: Flask) -> list[StatusRow]:
    config = get_registry(app).config
    data_dir = app.config["DATA_DIR"]
    with session_factory(app)() as session:
        queued = {row.host: row for row in session.scalars(select(Certificate))}
    now = utcnow()
    result = []
    for host, domain in sorted(config.hosts.items()):
        if domain in config.tls:
            not_after = _owner_not_after(config.tls[domain][0])
            if not_after is not None and not_after > now:
                result.append(StatusRow(host, CertState.VALID.value, not_after, None, None,
                                        "owner"))
            else:  # landingpad can't renew the owner's own files: say so
                result.append(StatusRow(host, CertState.FAILING.value, not_after, None,
                                        "the owner's own certificate "
                                        + ("has expired" if not_after else "can't be read")
                                        + f": renew {config.tls[domain][0]}", "owner"))
            continue
        row = queued.get(host)
        if row is None:
            pair = store.served_pair(data_dir, host)
            # Just added: the worker queues it within a second or two.
            waiting = CertState.PENDING if app.config["ACME_DIRECTORY"] else CertState.NONE
            state = CertState.VALID if pair and pair.not_after > now else waiting
            result.append(StatusRow(host, state.value, pair.not_after if pair else None,
                                    None, None, "acme" if pair else ""))
            continue
        if row.state in (CertState.VALID, CertState.RENEWING) and \
                store.served_pair(data_dir, host) is None:
            # Issued (by this node or another), but not served here: say so.
            result.append(StatusRow(host, CertState.FAILING.value, row.not_after,
                                    row.next_attempt_at, "issued, but this node has no "
                                    "readable copy (run `landingpad tls sync`; every node "
                                    "needs the same LANDINGPAD_SECRET_KEY)", "acme"))
            continue
        result.append(StatusRow(host, row.state, row.not_after, row.next_attempt_at,
                                row.last_error, "acme"))
    return result


def _owner_not_after(path: str) -> datetime | None:
    try:
        with open(path, "rb") as fh:
            return store.leaf(fh.read()).not_valid_after_utc
    except (OSError, ValueError):
        return None


def last_pending_by(app: Flask) -> datetime | None:
    """When the last host waiting for its first certificate should have it (None: none wait)."""
    with session_factory(app)() as session:
        return last_pending_estimate(session, Limits.from_config(app.config))


def retry_now(app: Flask, host: str) -> bool:
    """Make ``host`` due now, whatever its back-off (the admin's "Retry now"): the worker
    takes it on its next pass. Only the time moves: the failure count, and so the next
    back-off, stay. False, changing nothing, when no certificate is queued for ``host``."""
    now = utcnow()
    with session_factory(app)() as session, session.begin():
        row = session.get(Certificate, host)
        if row is None:
            return False
        row.next_attempt_at = now
        row.updated_at = now
    return True
