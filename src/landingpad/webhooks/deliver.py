"""The deliverer: fan events out, claim due deliveries, post them, record what happened.

Several may run (on one host or many): claims keep them from sending the same
delivery at once (queue.py). A few posts run side by side, so one slow endpoint
doesn't hold the others; each result is committed as soon as it is known.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Flask

from landingpad.storage import get_engine, session_factory
from landingpad.storage.models import Delivery, DeliveryState, Event
from landingpad.webhooks.config import endpoints, signing_secret
from landingpad.webhooks.queue import Policy, Queue
from landingpad.webhooks.send import Outcome, post, tls_context
from landingpad.webhooks.sign import sign

log = logging.getLogger(__name__)

BATCH = 50
WORKERS = 8
IDLE_SECONDS = 1.0  # how often an idle deliverer looks for new events
GROUP_SECONDS = 0.05  # results gathered this long share a commit


def webhook_id(event: Event, endpoint: str) -> str:
    """Stable per (event, endpoint): every retry, by any deliverer, carries the same id."""
    return f"msg_{event.key}_{hashlib.sha256(endpoint.encode()).hexdigest()[:12]}"


def body_of(event: Event) -> bytes:
    """The Standard Webhooks body: type, timestamp, data."""
    return json.dumps({"type": event.kind, "timestamp": event.created_at.isoformat(),
                       "data": event.payload}, ensure_ascii=False,
                      separators=(",", ":")).encode()


def where(endpoint: str) -> str:
    """An endpoint as logs may name it: its host (a path or query may hold a token)."""
    return urlsplit(endpoint).hostname or "?"


@dataclass
class Tally:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    def add(self, state: DeliveryState) -> None:
        if state is DeliveryState.DELIVERED:
            self.delivered += 1
        elif state is DeliveryState.FAILED:
            self.failed += 1
        else:
            self.retrying += 1


class Deliverer:
    def __init__(self, app: Flask, clock: Callable[[], int] | None = None) -> None:
        import time

        config = app.config
        self.app = app
        self.queue = Queue(get_engine(app))
        self.sessions = session_factory(app)
        self.secret = signing_secret(config)
        self.policy = Policy(config["WEBHOOK_RETRY_SECONDS"], config["WEBHOOK_RETRY_MAX_SECONDS"],
                             timedelta(hours=config["WEBHOOK_GIVE_UP_HOURS"]))
        self.timeout = config["WEBHOOK_TIMEOUT"]
        self.context = tls_context(config["WEBHOOK_CA_BUNDLE"])
        self.allow_private = config["WEBHOOK_ALLOW_PRIVATE"]
        self.dns_server = config["DNS_SERVER"]
        self.clock = clock or (lambda: int(time.time()))
        # Long enough for every post of a batch, run WORKERS at a time, to be cut off
        # (3 x the timeout, at two addresses: send.post).
        self.hold = timedelta(seconds=(math.ceil(BATCH / WORKERS) + 1) * self.timeout * 6 + 30)
        self.stopping = threading.Event()

    def _send(self, delivery: Delivery, event: Event) -> Outcome:
        try:
            return self._post(delivery, event)
        except Exception as exc:  # a fault here must not stop the others' deliveries
            return Outcome(None, f"not sent: {type(exc).__name__}")

    def _post(self, delivery: Delivery, event: Event) -> Outcome:
        body = body_of(event)
        message_id = webhook_id(event, delivery.endpoint)
        stamp = self.clock()
        headers = {"webhook-id": message_id, "webhook-timestamp": str(stamp),
                   "webhook-signature": sign(self.secret, message_id, stamp, body)}
        return post(delivery.endpoint, body, headers, timeout=self.timeout,
                    context=self.context, allow_private=self.allow_private,
                    dns_server=self.dns_server)

    def run_once(self) -> Tally:
        """One pass: fan out, then send everything due now (batch after batch)."""
        tally = Tally()
        with self.app.app_context():
            targets = endpoints(self.app)
        with self.sessions() as session, ThreadPoolExecutor(WORKERS) as pool:
            while self.queue.fan_out(session, targets, self.policy.give_up):
                pass
            while not self.stopping.is_set():
                claimed = self.queue.claim(session, BATCH, self.hold)
                if not claimed:
                    break
                futures = {pool.submit(self._send, d, e): d for d, e in claimed}
                waiting = set(futures)
                while waiting:
                    # The results known within GROUP_SECONDS, recorded in one commit
                    # (a durable commit costs more than a fast endpoint's answer).
                    done, waiting = wait(waiting, timeout=GROUP_SECONDS)
                    if not done:
                        continue
                    results = [(futures[f], f.result()) for f in done]
                    states = self.queue.record(session, results, self.policy)
                    for (delivery, outcome), state in zip(results, states, strict=True):
                        tally.add(state)
                        if not outcome.delivered:
                            # The host only, the delivery's number and why: no path, no
                            # payload.
                            log.warning("webhook delivery %d to %s: %s (%s)", delivery.id,
                                        where(delivery.endpoint), outcome.error, state.value)
        return tally

    def loop(self) -> None:
        """Deliver until stopped (SIGTERM): what's claimed and unfinished is given back."""
        try:
            while not self.stopping.is_set():
                self.run_once()
                with self.sessions() as session:
                    due = self.queue.next_due_in(session)
                wait = IDLE_SECONDS if due is None else min(IDLE_SECONDS, max(due, 0.05))
                self.stopping.wait(wait)
        finally:
            with self.sessions() as session:
                self.queue.release(session)
