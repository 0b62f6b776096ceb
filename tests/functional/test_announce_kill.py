"""At most once, for real: `landingpad announce send` killed with SIGKILL over and over."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from landingpad.storage.engine import make_engine
from landingpad.storage.models import Announcement, Recipient
from landingpad.storage.signups import record_signup
from landingpad.storage.types import utcnow
from tests.smtp_sink import Sink

pytestmark = pytest.mark.functional
LANDINGPAD = str(Path(sys.executable).with_name("landingpad"))
CONNECTIONS = 4  # ANNOUNCE_CONNECTIONS' default: every run here sends over 4


@pytest.fixture
def sink():
    # PIPELINING offered, as Postfix does: kills land mid-envelope too (the unit tests
    # cover the one-command-at-a-time exchange).
    with Sink(pipelining=True) as running:
        yield running


def prepare(database_url: str, count: int) -> int:
    engine = make_engine(database_url)
    with sa.orm.Session(engine) as session:
        for i in range(count):
            record_signup(session, site="coffee.test", email=f"r{i:04d}@example.com",
                          interests=[], consent_version="v", consent_text="t")
        item = Announcement(subject="Live", body_markdown="We are **live**.",
                            sites=["coffee.test"], created_at=utcnow())
        session.add(item)
        session.commit()
        ident = item.id
    engine.dispose()
    return ident


def final_states(database_url: str) -> Counter:
    engine = make_engine(database_url)
    with sa.orm.Session(engine) as session:
        found = Counter(session.scalars(sa.select(Recipient.state)))
    engine.dispose()
    return found


def sender(cli_env: dict, sink: Sink, ident: int, *extra: str) -> subprocess.Popen:
    env = {**os.environ, **cli_env, "LANDINGPAD_MAIL_TRANSPORT": "smtp",
           "LANDINGPAD_SMTP_HOST": "127.0.0.1", "LANDINGPAD_SMTP_PORT": str(sink.port)}
    # --force: no DNS server here for the DKIM/DMARC check (tests/unit/dnscheck test it).
    return subprocess.Popen([LANDINGPAD, "announce", "send", str(ident), "--no-progress",
                             "--force", *extra], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def test_twenty_kill_9s_never_send_twice(cli_env, database_url, sink):
    count = 1500  # at 60/s, 20 runs of at most ~1 s can't finish it: every kill lands mid-run
    ident = prepare(database_url, count)
    rng = random.Random(20261124)
    kills = 0
    while kills < 20:
        proc = sender(cli_env, sink, ident, "--rate", "60", "--batch", "10")
        time.sleep(rng.uniform(0.6, 1.4))  # start-up is ~0.5 s: kills land mid-sending
        if proc.poll() is not None:
            break  # finished before the kill
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
    final = sender(cli_env, sink, ident)
    output = final.communicate(timeout=120)[0].decode()
    assert final.returncode == 0, output

    ids = sink.handler.ids()
    duplicates = [mid for mid, n in Counter(ids).items() if n > 1]
    states = final_states(database_url)
    print(f"kills={kills} received={len(ids)} states={dict(states)}")
    assert kills == 20
    assert duplicates == []
    assert set(states) <= {"sent", "unknown"} and sum(states.values()) == count
    # At most one row per connection was being handed over when its sender died.
    assert states["unknown"] <= kills * CONNECTIONS
    assert states["sent"] <= len(ids) <= states["sent"] + states["unknown"]


def test_two_senders_at_once_never_send_the_same_row(cli_env, database_url, sink):
    count = 400
    ident = prepare(database_url, count)
    first = sender(cli_env, sink, ident, "--batch", "5", "--rate", "100")
    deadline = time.monotonic() + 30
    while len(sink.handler.ids()) < 20:  # the first is provably mid-run
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.02)
    second = sender(cli_env, sink, ident, "--batch", "5", "--rate", "100")
    outputs = [p.communicate(timeout=120)[0].decode() for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    ids = sink.handler.ids()
    assert len(ids) == count and len(set(ids)) == count
    assert final_states(database_url) == Counter({"sent": count})
    # Both senders did part of the work.
    assert all("sent" in out for out in outputs), outputs


def test_ctrl_c_stops_every_connection_after_its_message_and_gives_the_rest_back(
        cli_env, database_url, sink):
    count = 300
    ident = prepare(database_url, count)
    sink.handler.delay = 0.01
    running = sender(cli_env, sink, ident, "--connections", "3", "--rate", "100")
    deadline = time.monotonic() + 30
    while len(sink.handler.ids()) < 20:  # provably mid-run, on every connection
        assert time.monotonic() < deadline and running.poll() is None
        time.sleep(0.02)
    running.send_signal(signal.SIGINT)  # what Ctrl-C in its terminal sends
    output = running.communicate(timeout=60)[0].decode()
    assert running.returncode == 1 and "stopped; run `announce send` again" in output, output
    stopped = final_states(database_url)
    # Each connection ended the message it was handing over: none is unknown, sending
    # or still claimed; the rest went back to pending.
    assert set(stopped) == {"sent", "pending"}, (stopped, output)
    assert stopped["sent"] == len(sink.handler.ids()) < count
    final = sender(cli_env, sink, ident, "--connections", "3")
    output = final.communicate(timeout=120)[0].decode()
    assert final.returncode == 0, output
    ids = sink.handler.ids()
    assert len(ids) == count and len(set(ids)) == count
    assert final_states(database_url) == Counter({"sent": count})
