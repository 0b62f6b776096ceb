from __future__ import annotations

import pytest

from tests.webhook_receiver import Receiver


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    running = Receiver(tmp_path_factory.mktemp("receiver"))
    yield running
    running.stop()


@pytest.fixture
def hooks(receiver):
    """The receiver, emptied for this test."""
    with receiver.lock:
        receiver.received.clear()
        receiver.plan.clear()
    receiver.hanging.clear()
    receiver.gate.set()
    return receiver
