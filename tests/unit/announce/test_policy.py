"""Pacing and retries: plain arithmetic over a clock, no database or server."""

import threading
from datetime import UTC, datetime, timedelta

import pytest

from landingpad.announce.policy import MAX_ERROR, Pacer, RetryPolicy
from landingpad.announce.states import Outcome
from landingpad.mail.transports import DeliveryError
from landingpad.storage.models import RecipientState


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_without_a_rate_nothing_waits():
    clock = FakeClock()
    pacer = Pacer(None, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        pacer.wait()
    assert clock.slept == []


def test_a_rate_spaces_messages_evenly_and_the_first_goes_at_once():
    clock = FakeClock()
    pacer = Pacer(4.0, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        pacer.wait()
    assert clock.slept == [0.0, 0.25, 0.25, 0.25]


def test_time_spent_sending_counts_toward_the_interval():
    clock = FakeClock()
    pacer = Pacer(4.0, clock=clock, sleep=clock.sleep)
    pacer.wait()
    clock.now += 0.1  # the message took 0.1 s
    pacer.wait()
    assert clock.slept == [0.0, 0.15]


def test_a_sender_that_fell_behind_does_not_burst_to_catch_up():
    clock = FakeClock()
    pacer = Pacer(10.0, clock=clock, sleep=clock.sleep)
    pacer.wait()
    clock.now += 5.0  # a slow server: 50 slots went by
    pacer.wait()
    pacer.wait()
    assert clock.slept == [0.0, 0.0, 0.1]



def test_one_pacer_shared_by_several_connections_gives_each_call_its_own_slot():
    slept: list[float] = []
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            slept.append(round(seconds, 6))

    pacer = Pacer(4.0, clock=lambda: 100.0, sleep=sleep)  # the clock stands still
    threads = [threading.Thread(target=pacer.wait) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 4 per second over all of them, not 4 per second each.
    assert sorted(slept) == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75]

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("attempts", "delay"), [(1, 60), (2, 120), (3, 240), (4, 480)])
def test_a_4xx_is_pending_again_later_each_time_twice_as_late(attempts, delay):
    decision = RetryPolicy(delay=60.0, max_attempts=5).after(
        DeliveryError("temporary", "451 4.3.0 Try again later"), attempts, NOW)
    assert decision.state == RecipientState.PENDING and decision.outcome == Outcome.RETRY
    assert decision.retry_at == NOW + timedelta(seconds=delay)
    assert decision.values() == {"state": "pending", "claimed_by": None,
                                 "last_error": "451 4.3.0 Try again later",
                                 "next_attempt_at": NOW + timedelta(seconds=delay)}


def test_a_4xx_on_the_last_attempt_fails_the_row():
    decision = RetryPolicy(max_attempts=3).after(DeliveryError("temporary", "451 busy"), 3, NOW)
    assert (decision.state, decision.outcome, decision.retry_at) == (
        RecipientState.FAILED, Outcome.FAILED, None)
    assert "next_attempt_at" not in decision.values()


def test_a_5xx_fails_at_once_with_the_reply():
    decision = RetryPolicy().after(DeliveryError("permanent", "550 No such user"), 1, NOW)
    assert (decision.state, decision.outcome, decision.error) == (
        RecipientState.FAILED, Outcome.FAILED, "550 No such user")


def test_a_connection_lost_mid_message_is_unknown_never_retried():
    decision = RetryPolicy().after(DeliveryError("unknown", "connection lost"), 1, NOW)
    assert (decision.state, decision.outcome, decision.retry_at) == (
        RecipientState.UNKNOWN, Outcome.UNKNOWN, None)


def test_a_long_reply_is_cut_to_what_the_row_keeps():
    decision = RetryPolicy().after(DeliveryError("permanent", "5" * 5000), 1, NOW)
    assert len(decision.error) == MAX_ERROR
