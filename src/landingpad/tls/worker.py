"""The certificate worker: one pass orders what is due, renews what must be, retires the expired.

``run_pass`` is what ``tls renew`` (a timer) and ``tls issue`` run once and ``tls
worker`` runs in a loop. Any number may run at once on any nodes: a lease picks
the one that talks to the CA. A pass:

1. makes the queue match the sites file (every domain and alias without the
   owner's own certificate; a removed host loses its row and its file);
2. retires files whose certificate expired (HTTP stops redirecting to them);
3. for each due host, in order: the CA's limits as counted here, a probe of the
   host over HTTP (never order blind), then the order, written as one file;
4. re-renders nginx when a host gained or lost its file (a renewal needs no reload),
   and mails the owner about a certificate close to expiry that keeps failing.

A kill at any point leaves the old file served; the host stays due, and the next
pass (here after the pid is gone, elsewhere when the lease runs out) resumes.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import func, select

from landingpad.sites import get_registry
from landingpad.storage import session_factory
from landingpad.storage.models import Certificate, CertOrder, CertState
from landingpad.storage.types import utcnow
from landingpad.tls import lease, shared, store
from landingpad.tls.challenges import publisher, sweep
from landingpad.tls.probe import Probe, ProbeFailed
from landingpad.tls.queue import (
    CA_DOWN_BACKOFF,
    REFUSED_BACKOFF,
    Limits,
    backoff,
    blocked_until,
    due,
    record_order,
    renew_at,
    sync,
)

log = logging.getLogger(__name__)

LEASE = "tls-orderer"
ALERT_DAYS = 7
ALERT_EVERY = timedelta(days=1)


def wanted_hosts(app: Flask) -> list[str]:
    """Every host name in the sites file, except those served with the owner's own files."""
    registry = get_registry(app)
    registry.reload()  # a domain added or removed a moment ago counts
    config = registry.config
    own = {host for host, domain in config.hosts.items() if domain in config.tls}
    return sorted(set(config.hosts) - own)


@dataclass
class PassReport:
    ran: bool = True  # False: another orderer holds the lease
    holder: str | None = None
    issued: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    retired: list[str] = field(default_factory=list)
    pulled: list[str] = field(default_factory=list)  # copied from the shared store
    unreadable: list[str] = field(default_factory=list)  # broken files, taken out of service
    unsealable: list[str] = field(default_factory=list)  # sealed with another secret key
    nginx: list[str] = field(default_factory=list)  # what the re-render said
    next_due: datetime | None = None


def acme_enabled(app: Flask) -> bool:
    return bool(app.config["ACME_DIRECTORY"])


def run_pass(app: Flask, hosts: Iterable[str] | None = None, *, force: bool = False,
             client_factory: Callable[[dict], object] | None = None) -> PassReport:
    """One pass (see the module's text). ``hosts`` limits it to those; ``force`` makes
    them due now (``tls issue``), whatever their back-off.

    Every node does the local part (its files follow the sites file and the shared
    store); only the holder of the orderer lease talks to the CA.
    """
    sessions = session_factory(app)
    report = PassReport()
    hosts = None if hosts is None else list(hosts)
    if force and hosts:
        make_due(sessions, hosts)  # whoever orders next takes them, this pass or another's
    changed = local_pass(app, sessions, report)
    holder = lease.me()
    if lease.acquire(sessions, LEASE, holder):
        with lease.kept(sessions, LEASE, holder) as held:
            try:
                changed |= _order(app, sessions, report, hosts, held, client_factory)
            finally:
                lease.release(sessions, LEASE, holder)
        _alerts(app, sessions)
    else:
        report.ran, report.holder = False, lease.holder_of(sessions, LEASE)
    if changed:
        report.nginx = refresh_nginx(app)
    report.nginx += rotate_tickets(app)
    with sessions() as session:
        report.next_due = session.scalar(select(Certificate.next_attempt_at).order_by(
            Certificate.next_attempt_at).limit(1))
    return report


def make_due(sessions, hosts: list[str]) -> None:  # noqa: ANN001
    """``tls issue DOMAIN``: a new certificate now, renewal or not, whatever the back-off."""
    now = utcnow()
    with sessions() as session, session.begin():
        for row in session.scalars(select(Certificate).where(Certificate.host.in_(hosts))):
            row.next_attempt_at = now
            if row.renew_at is not None:
                row.renew_at = now


def local_pass(app: Flask, sessions, report: PassReport) -> bool:  # noqa: ANN001
    """This node's files: retire removed hosts' and expired ones, copy newer ones from the
    shared store. True if a host gained or lost its file (nginx's maps change)."""
    data_dir = app.config["DATA_DIR"]
    wanted = set(wanted_hosts(app))
    configured = set(get_registry(app).config.hosts)
    now = utcnow()
    changed = False
    for host in store.served_hosts(data_dir):
        try:
            info = store.file_info(data_dir, host)
        except ValueError as exc:  # truncated, or not a certificate and its key
            log.error("certificate file for %s is unreadable (%s): no longer served", host, exc)
            report.unreadable.append(host)
            info = None
        if host not in configured or host in report.unreadable or (
                info is not None and info.not_after <= now):
            store.retire(data_dir, host)
            report.retired.append(host)
            changed = True
    store.sweep(data_dir)
    with sessions() as session:
        pulled = shared.pull(session, app.config["SECRET_KEY"], data_dir, wanted)
    report.pulled, report.unsealable = pulled.updated, pulled.unsealable
    if pulled.unsealable:
        log.error("%d certificates in the database are sealed with another secret key: this "
                  "node can't serve them (LANDINGPAD_SECRET_KEY must be the same on every "
                  "node)", len(pulled.unsealable))
    return changed or bool(pulled.first)


def _order(app: Flask, sessions, report: PassReport, hosts: list[str] | None,  # noqa: ANN001
           held: lease.Held, client_factory: Callable[[dict], object] | None) -> bool:
    """The orderer's part: the queue follows the sites file, due hosts are ordered."""
    config = app.config
    data_dir = config["DATA_DIR"]
    now = utcnow()
    changed = False
    with sessions() as session, session.begin():
        removed = sync(session, wanted_hosts(app), now)[1] if acme_enabled(app) else []
        shared.drop(session, removed)
        for host in removed:
            changed |= store.retire(data_dir, host)
        sweep(session)
        for row in session.scalars(select(Certificate).where(
                Certificate.state.in_([CertState.VALID.value, CertState.RENEWING.value]))):
            # Expired (its file retired by the local pass): a first certificate again. Not
            # "no file here": on a node that can't unseal the shared copy that would re-order.
            if row.not_after is None or row.not_after <= now:
                row.state, row.not_after, row.next_attempt_at = \
                    CertState.PENDING.value, None, now
        work = [row.host for row in due(session, now, hosts)]
    if work and acme_enabled(app):
        limits = Limits.from_config(config)
        clients = _LazyClient(config, client_factory)
        for host in work:
            if not held.ok:  # another orderer took over (this process stalled): stop
                break
            outcome = _attempt(app, sessions, host, limits, clients, held)
            if isinstance(outcome, bool):  # issued; True: the host's first file
                report.issued.append(host)
                changed |= outcome
            elif outcome:
                report.failed[host] = outcome
    return changed


class _LazyClient:
    """The ACME client, made (account loaded, directory fetched) only once a pass needs it."""

    def __init__(self, config: dict, factory: Callable[[dict], object] | None) -> None:
        self.config, self.factory, self.client = config, factory, None

    def get(self):  # an AcmeClient, imported lazily: the CLI starts fast
        if self.client is None:
            from landingpad.tls.acme import AcmeClient

            self.client = (self.factory or AcmeClient.from_config)(self.config)
        return self.client


def _attempt(app: Flask, sessions, host: str, limits: Limits,  # noqa: ANN001
             clients: _LazyClient, held: lease.Held) -> bool | str | None:
    """Order (or renew) one host: True/False when issued (True: its first file), the error
    text on failure, None when nothing was tried (a limit, or only an ARI re-check)."""
    from landingpad.tls.acme import AcmeError, AcmeFailure, ari_cert_id

    config = app.config
    data_dir = config["DATA_DIR"]
    now = utcnow()
    served = store.served_pair(data_dir, host)
    with sessions() as session, session.begin():
        row = session.get(Certificate, host)
        if row is None:
            return None
        if served is not None and row.renew_at is not None and row.renew_at > now:
            # Only an ARI re-check was due: ask whether the CA wants it renewed sooner.
            _recheck_ari(row, served, clients.get())
            return None
        blocked = blocked_until(session, limits, host, now)
        if blocked is not None:
            row.next_attempt_at, row.last_error = blocked[0], f"waiting: {blocked[1]}"
            row.updated_at = now
            return None
    # Never order blind: the host must reach this server (any node) over HTTP first.
    publish, withdraw = publisher(sessions, host)
    token, expected = "lp-probe-" + secrets.token_urlsafe(24), secrets.token_urlsafe(32)
    publish(token, expected)
    try:
        Probe(host, config["ACME_HTTP_PORT"], config["DNS_SERVER"]).check(token, expected)
    except ProbeFailed as exc:
        return _failed(sessions, host, served, f"not ordered: {exc}", backoff_base=None)
    finally:
        withdraw(token)

    with sessions() as session, session.begin():
        order = record_order(session, host)
        session.flush()
        order_id = order.id
        row = session.get(Certificate, host)
        if row is not None and served is not None:
            row.state = CertState.RENEWING.value
    try:
        client = clients.get()
        issued = client.issue(host, publish, withdraw,
                              key_pem=served.key_pem if served else None,
                              replaces=ari_cert_id(served.chain_pem) if served else None)
    except AcmeError as exc:
        _close_order(sessions, order_id, "failed" if exc.kind is AcmeFailure.VALIDATION_FAILED
                     else "error")
        base = {AcmeFailure.CA_UNAVAILABLE: CA_DOWN_BACKOFF,
                AcmeFailure.REFUSED: REFUSED_BACKOFF}.get(exc.kind)
        return _failed(sessions, host, served, str(exc), backoff_base=base,
                       retry_after=exc.retry_after)
    except Exception as exc:  # a bug or an odd answer: this host backs off, the rest go on
        log.exception("certificate order for %s failed", host)
        _close_order(sessions, order_id, "error")
        return _failed(sessions, host, served, f"{type(exc).__name__}: {exc}", backoff_base=None)
    _close_order(sessions, order_id, "issued")  # the CA counts it from now on, whatever follows
    if not held.ok:
        return _failed(sessions, host, served, "not installed: another orderer took over "
                       "while this one stalled (it orders again)", backoff_base=None)
    try:
        first = store.write_pair(data_dir, host, issued.chain_pem, issued.key_pem)
        with sessions() as session, session.begin():  # for the other nodes
            shared.save(session, config["SECRET_KEY"], host, store.Pair(
                issued.chain_pem, issued.key_pem, issued.not_before, issued.not_after))
    except (OSError, ValueError) as exc:  # disk full, read-only, a pair that doesn't match
        log.error("certificate for %s issued but not installed: %s", host, exc)
        return _failed(sessions, host, served, f"issued but not installed: {exc}",
                       backoff_base=None)
    when, ari_next = _renewal(client, issued)
    with sessions() as session, session.begin():
        row = session.get(Certificate, host)
        if row is not None:
            row.state, row.not_after, row.failures = CertState.VALID.value, issued.not_after, 0
            row.last_error, row.renew_at, row.alerted_at = None, when, None
            row.ari_checked_at = utcnow() if ari_next else None
            row.next_attempt_at = min(when, ari_next) if ari_next else when
            row.updated_at = utcnow()
    log.info("certificate for %s issued, valid until %s", host, issued.not_after.isoformat())
    return first


def _renewal(client, issued) -> tuple[datetime, datetime | None]:  # noqa: ANN001
    """When to renew: inside ARI's window when the CA offers one, else a third of the
    lifetime before the end. The second value is when to ask ARI again (None: no ARI)."""
    from landingpad.tls.acme import AcmeError

    try:
        suggested, ask_again = client.renewal_time(issued.chain_pem)
    except AcmeError:
        suggested, ask_again = None, None
    if suggested is not None:
        return suggested, ask_again
    return renew_at(issued.not_before, issued.not_after), None


def _recheck_ari(row: Certificate, served: store.Pair, client) -> None:  # noqa: ANN001
    from landingpad.tls.acme import AcmeError

    now = utcnow()
    try:
        suggested, ask_again = client.renewal_time(served.chain_pem)
    except AcmeError:
        suggested, ask_again = None, now + timedelta(hours=6)
    if suggested is not None:
        row.renew_at = suggested
    row.ari_checked_at = now
    row.next_attempt_at = min(row.renew_at or now, ask_again) if ask_again else row.renew_at
    row.updated_at = now


def _close_order(sessions, order_id: int, outcome: str) -> None:  # noqa: ANN001
    with sessions() as session, session.begin():
        order = session.get(CertOrder, order_id)
        if order is not None:
            order.outcome = outcome


def _failed(sessions, host: str, served: store.Pair | None, error: str,  # noqa: ANN001
            backoff_base: timedelta | None, retry_after: datetime | None = None) -> str:
    now = utcnow()
    with sessions() as session, session.begin():
        row = session.get(Certificate, host)
        if row is not None:
            row.failures += 1
            delay = backoff(row.failures, backoff_base) if backoff_base else backoff(row.failures)
            row.next_attempt_at = max(now + delay, retry_after or now)
            row.state = CertState.FAILING.value
            row.last_error = printable(error)[:2000]
            row.updated_at = now
    log.warning("certificate for %s: %s", host, printable(error))
    return printable(error)


def printable(text: str) -> str:
    """Text from the outside (a domain's HTTP answer, the CA's detail) without control
    characters: it is printed to terminals, logged and mailed."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)


def refresh_nginx(app: Flask) -> list[str]:
    """Re-render nginx's maps from the live files (which hosts have a certificate)."""
    from landingpad.deploy import DomainError, DomainManager

    try:
        return DomainManager.from_config(app.config).refresh().messages
    except DomainError as exc:
        log.error("nginx not updated after a certificate change: %s", exc)
        return [f"nginx not updated: {exc}"]


def rotate_tickets(app: Flask) -> list[str]:
    """This node's nginx gets a fresh session ticket key every 12 hours (forward secrecy
    for resumed sessions); the two before it keep decrypting returning visitors' tickets."""
    from landingpad.deploy import DomainError, DomainManager

    try:
        return DomainManager.from_config(app.config).rotate_ticket_keys()
    except (DomainError, OSError) as exc:
        log.error("session ticket keys not rotated: %s", exc)
        return [f"session ticket keys not rotated: {exc}"]


def _alerts(app: Flask, sessions) -> None:  # noqa: ANN001
    """Mail the owner once a day about a certificate within a week of expiry that keeps failing."""
    now = utcnow()
    soon = now + timedelta(days=ALERT_DAYS)
    with sessions() as session, session.begin():
        rows = list(session.scalars(select(Certificate).where(
            Certificate.state == CertState.FAILING.value, Certificate.not_after.is_not(None),
            Certificate.not_after <= soon)))
        for row in rows:
            if row.alerted_at is not None and row.alerted_at > now - ALERT_EVERY:
                continue
            from landingpad.tls.alerts import send_expiry_alert

            if send_expiry_alert(app, row):
                row.alerted_at = now


def loop(app: Flask, interval: float = 60.0, stop: Callable[[], bool] = lambda: False,
         on_pass: Callable[[PassReport], None] | None = None) -> None:
    """``tls worker``: a pass whenever something is due, the sites file changed, or every
    ``interval`` seconds; never sooner than a second apart."""
    registry = get_registry(app)
    while not stop():
        report = run_pass(app)
        if on_pass is not None:
            on_pass(report)
        wake = time.monotonic() + interval
        if report.next_due is not None:
            wake = min(wake, time.monotonic() + (report.next_due - utcnow()).total_seconds())
        wake = max(wake, time.monotonic() + 1.0)
        sessions = session_factory(app)
        while not stop() and time.monotonic() < wake:
            time.sleep(min(1.0, max(wake - time.monotonic(), 0.05)))
            if registry.reload():  # a domain added or removed: look now
                break
            # Made due from elsewhere (the admin's "Retry now", `tls issue` on another node).
            with sessions() as session:
                soonest = session.scalar(select(func.min(Certificate.next_attempt_at)))
            if soonest is not None and soonest <= utcnow():
                break
