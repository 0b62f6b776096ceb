"""Webhook deliveries per second: one `Deliverer.run_once` pass over N fresh events.

A loopback HTTPS receiver (tests/webhook_receiver.py, answering 204 at once, in a
process of its own: it must not take the deliverer's interpreter lock) and a
SQLite database in a temporary folder (WAL, synchronous=FULL: one durable commit per
delivery's result). What it measures is the deliverer's own cost: claims, signing,
a new TLS connection per delivery (8 side by side), and the commits.

    PYTHONPATH=src .venv/bin/python -m bench.webhooks [--events 1000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

from tests.webhook_receiver import Receiver

from landingpad import create_app
from landingpad.storage import session_factory
from landingpad.storage.engine import make_engine
from landingpad.storage.migrations import upgrade
from landingpad.storage.signups import record_signup
from landingpad.webhooks.deliver import Deliverer


def _receive(folder: Path, pipe: Connection) -> None:
    receiver = Receiver(folder)
    pipe.send((receiver.url(), str(receiver.ca)))
    pipe.recv()  # stop
    pipe.send(len(receiver.accepted()))
    receiver.stop()


def measure(events: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        pipe, child_end = multiprocessing.Pipe()
        child = multiprocessing.get_context("fork").Process(target=_receive,
                                                            args=(root, child_end))
        child.start()
        url, ca = pipe.recv()
        database = f"sqlite:///{root / 'landingpad.db'}"
        engine = make_engine(database)
        upgrade(engine)
        engine.dispose()
        app = create_app({"DATA_DIR": str(root), "DATABASE_URL": database,
                          "SECRET_KEY": "b" * 40, "WEBHOOK_URLS": (url,),
                          "WEBHOOK_ALLOW_PRIVATE": True, "WEBHOOK_CA_BUNDLE": ca})
        try:
            with session_factory(app)() as session:
                for i in range(events):
                    record_signup(session, site="bench.test", email=f"b{i}@example.com",
                                  interests=[], consent_version="v", consent_text="t")
            started = time.perf_counter()
            tally = Deliverer(app).run_once()
            elapsed = time.perf_counter() - started
        finally:
            app.extensions["landingpad.db"].dispose()
            pipe.send("stop")
            accepted = pipe.recv()
            child.join()
    assert tally.delivered == events == accepted, (tally, accepted)
    return {"webhook_deliveries_per_s": events / elapsed, "seconds": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    result = measure(parser.parse_args().events)
    print(f"{result['webhook_deliveries_per_s']:.0f} deliveries/s "
          f"({result['seconds']:.2f} s for the pass)")


if __name__ == "__main__":
    main()
