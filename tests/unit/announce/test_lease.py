"""Whether another sender still runs: its pid on this host, its lease on another."""

import os
import socket
import subprocess
from datetime import timedelta

import pytest
from sqlalchemy import select

from landingpad.announce.lease import LEASE, Lease, alive, drop_stale, new_identity
from landingpad.storage.models import SenderLease
from landingpad.storage.types import utcnow

HOST = socket.gethostname()


def leases(session):
    session.expire_all()
    return {lease.identity: lease.seen_at for lease in session.scalars(select(SenderLease))}


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_an_identity_names_this_host_and_process_and_is_unique():
    first, second = new_identity(), new_identity()
    assert first.startswith(f"{HOST}:{os.getpid()}:") and first != second


def test_on_this_host_a_sender_is_alive_while_its_process_runs(session):
    assert alive(session, f"{HOST}:{os.getpid()}:cafe0001")
    assert not alive(session, f"{HOST}:{dead_pid()}:cafe0001")


@pytest.mark.parametrize("claimed_by", [None, "", f"{HOST}:not-a-pid:x", HOST])
def test_no_claim_or_a_malformed_one_is_nobody_alive(session, claimed_by):
    assert not alive(session, claimed_by)


@pytest.mark.parametrize(("age", "expected"), [
    (None, True),                     # an older release keeps no lease: not ours to judge
    (timedelta(seconds=30), True),    # renewed lately
    (LEASE + timedelta(seconds=1), False),  # stale: that sender died
])
def test_on_another_host_a_sender_is_alive_while_its_lease_is_fresh(session, age, expected):
    other = "another-node:4242:cafe0001"
    if age is not None:
        session.add(SenderLease(identity=other, seen_at=utcnow() - age))
        session.commit()
    assert alive(session, other) is expected


class Clock:
    now = 1000.0

    def __call__(self):
        return self.now


def test_a_lease_is_renewed_at_most_every_beat(session):
    clock = Clock()
    lease = Lease("me:1:a", every=30.0, clock=clock)
    lease.beat(session)
    session.commit()
    first = leases(session)["me:1:a"]
    clock.now += 29
    lease.beat(session)
    session.commit()
    assert leases(session)["me:1:a"] == first
    clock.now += 2
    lease.beat(session)
    session.commit()
    assert leases(session)["me:1:a"] > first


def test_a_clean_stop_gives_back_only_its_own_lease(session):
    mine, other = Lease("me:1:a"), Lease("other:2:b")
    for lease in (mine, other):
        lease.beat(session)
    session.commit()
    mine.give_back(session)
    session.commit()
    assert set(leases(session)) == {"other:2:b"}
    assert mine.holds("me:1:a") and not mine.holds("other:2:b") and not mine.holds(None)


def test_stale_leases_are_dropped_and_fresh_ones_kept(session):
    session.add_all([SenderLease(identity="old:1:a", seen_at=utcnow() - LEASE * 2),
                     SenderLease(identity="new:1:a", seen_at=utcnow())])
    session.commit()
    drop_stale(session)
    session.commit()
    assert set(leases(session)) == {"new:1:a"}
