"""States and outcomes are enums whose values are the strings stored and printed before."""

from collections import Counter

import pytest

from landingpad.announce import AnnouncementState, Outcome, announcement_state, counts
from landingpad.storage.models import Announcement, RecipientState
from landingpad.storage.types import utcnow


def test_the_stored_strings_are_unchanged():
    assert [s.value for s in RecipientState] == [
        "pending", "claimed", "sending", "sent", "failed", "unknown"]
    assert RecipientState.SENT == "sent" and f"{RecipientState.UNKNOWN}" == "unknown"


def test_an_outcome_prints_as_the_cli_always_printed_it():
    outcome = Counter({Outcome.SENT: 28, Outcome.FAILED: 1, Outcome.UNKNOWN: 1})
    assert " ".join(f"{k} {v}" for k, v in sorted(outcome.items())) == \
        "failed 1 sent 28 unknown 1"
    assert outcome["sent"] == 28  # a string finds its member


def test_counts_have_every_state_in_order_and_zero_for_none(session, rows):
    ident = rows("a@example.com", "b@example.com", "c@example.com",
                 states={"a@example.com": "sent", "b@example.com": "unknown"})
    found = counts(session, ident)
    assert list(found) == list(RecipientState)
    assert found == {"pending": 1, "claimed": 0, "sending": 0, "sent": 1, "failed": 0,
                     "unknown": 1}
    assert counts(session, 999) == dict.fromkeys(RecipientState, 0)


def per_state(**found):
    return {**dict.fromkeys(RecipientState, 0), **found}


@pytest.mark.parametrize(("listed", "found", "expected"), [
    (False, per_state(), AnnouncementState.DRAFT),
    (True, per_state(pending=1, sent=3), AnnouncementState.SENDING),
    (True, per_state(claimed=1), AnnouncementState.SENDING),
    # A dead sender's `sending` row: not done until a sender turns it into `unknown`.
    (True, per_state(sending=1, sent=3), AnnouncementState.SENDING),
    (True, per_state(sent=3, failed=1, unknown=1), AnnouncementState.DONE),
    (True, per_state(), AnnouncementState.DONE),  # nobody to send to
])
def test_an_announcement_state_follows_from_its_rows(listed, found, expected):
    item = Announcement(recipients_at=utcnow() if listed else None)
    assert announcement_state(item, found) is expected
