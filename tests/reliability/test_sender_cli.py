"""The announcement sender end to end through the CLI: 4xx, 5xx, a dropped connection, and a
second run that must send nothing again."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tests.functional.test_announce_kill import final_states, prepare, sender, sink  # noqa: F401
from tests.reliability.conftest import record

pytestmark = pytest.mark.functional


def test_every_smtp_answer_ends_in_the_right_state_and_nothing_twice(cli_env, database_url,
                                                                     sink):  # noqa: F811
    ident = prepare(database_url, 30)
    sink.handler.temporary["r0001@example.com"] = 2   # 451 twice, then taken
    sink.handler.permanent.add("r0002@example.com")   # 550
    sink.handler.drop_after_data.add("r0003@example.com")  # taken, then the line drops

    first = sender(cli_env, sink, ident, "--retry-delay", "0.2")
    output = first.communicate(timeout=120)[0].decode()
    assert first.returncode == 0, output
    assert final_states(database_url) == Counter({"sent": 28, "failed": 1, "unknown": 1})
    assert re.search(r"sent 28", output) and "unknown 1" in output and "failed 1" in output

    delivered = Counter(sink.handler.ids())
    assert max(delivered.values()) == 1  # no Message-ID twice
    # r0003's message did arrive, but the sender can't know: `unknown`, never resent.
    assert len(delivered) == 29

    again = sender(cli_env, sink, ident, "--retry-delay", "0.2")
    output = again.communicate(timeout=120)[0].decode()
    assert again.returncode == 0, output
    assert Counter(sink.handler.ids()) == delivered  # the second run sent nothing
    record("sender_cli", {"recipients": 30, "sent": 28, "failed": 1, "unknown": 1,
                          "duplicates": 0})
