"""kill -9 during a sign-up load through nginx: every acknowledged sign-up survives, whole."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from itertools import count
from pathlib import Path

import pytest

from landingpad.storage.engine import make_engine
from tests.functional.test_scale_out import form_token, post_signup
from tests.reliability.conftest import record

pytestmark = pytest.mark.functional


def workers(master: int) -> list[int]:
    path = Path(f"/proc/{master}/task/{master}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except FileNotFoundError:
        return []


def restart_uwsgi(stack) -> None:
    """kill -9 the master and every worker (a crash), then start uWSGI again."""
    master = stack.uwsgi.pid
    for pid in [master, *workers(master)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    stack.uwsgi.wait(10)
    stack.start_uwsgi(time.monotonic() + 30)


def test_kill_9_during_sign_ups_loses_nothing_acknowledged(open_stack, database_url, soak,
                                                           backend):
    stack = open_stack
    seconds = 60.0 if soak else 8.0
    token = form_token(stack.port)
    results: list[tuple[str, int]] = []
    lock = threading.Lock()
    numbers = count()
    stop_at = time.monotonic() + seconds
    kills = {"worker": 0, "whole_uwsgi": 0}

    def writer() -> None:
        while time.monotonic() < stop_at:
            with lock:
                email = f"d{next(numbers)}@example.com"
            status = post_signup(stack.port, token, email, "127.0.0.1")
            with lock:
                results.append((email, status))

    def killer() -> None:
        rng = random.Random(7)
        for n in count(1):
            time.sleep(rng.uniform(0.15, 0.35))
            if time.monotonic() > stop_at - 0.5:
                return
            if n % 8 == 0:  # now and then the whole uWSGI, master included
                restart_uwsgi(stack)
                kills["whole_uwsgi"] += 1
                continue
            alive = workers(stack.uwsgi.pid)
            if alive:
                os.kill(rng.choice(alive), signal.SIGKILL)
                kills["worker"] += 1

    threads = [threading.Thread(target=writer) for _ in range(6)] + [threading.Thread(
        target=killer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    acknowledged = {e for e, s in results if s == 303}
    failed = {e for e, s in results if s != 303}
    engine = make_engine(database_url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT email, site, consent_version, consented_at, created_at FROM signups").all()
        if backend == "sqlite":
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    engine.dispose()
    stored = [r[0] for r in rows]
    assert len(stored) == len(set(stored))                  # none twice
    assert acknowledged <= set(stored)                      # every 303 survived
    assert set(stored) <= acknowledged | failed             # nothing nobody sent
    assert all(all(value is not None for value in r) for r in rows)  # nothing half-written
    assert kills["worker"] >= 5 and kills["whole_uwsgi"] >= 1
    assert len(acknowledged) > 20  # enough to mean something, even on a busy machine
    # The stack serves again once uWSGI is back.
    assert post_signup(stack.port, token, "after@example.com", "127.0.0.1") == 303
    record(f"durability_{backend}", {
        "seconds": seconds, "sign_ups_tried": len(results), "acknowledged": len(acknowledged),
        "failed": len(failed), "failed_but_stored": len(failed & set(stored)),
        "acknowledged_lost": len(acknowledged - set(stored)), **kills})
