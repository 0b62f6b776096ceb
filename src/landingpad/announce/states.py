"""Where an announcement and its recipients stand, and what a send did: one enum each.

StrEnums, so stored strings and the CLI's output stay as they were and a value
compares equal to its string. Recipient states live beside their table
(storage.models.RecipientState): the core may not import a feature.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from landingpad.storage.models import Announcement, Recipient, RecipientState

__all__ = ["AnnouncementState", "Outcome", "RecipientState", "announcement_state", "counts"]

# Rows a sender may still pick up (or is handing over): the announcement isn't done.
OPEN = (RecipientState.PENDING, RecipientState.CLAIMED, RecipientState.SENDING)


class AnnouncementState(enum.StrEnum):
    """Derived from its rows, never stored: a sender that dies can't leave it wrong."""

    DRAFT = "draft"      # the recipient list is not taken yet (no `send` so far)
    SENDING = "sending"  # some rows are pending, claimed or being handed over
    DONE = "done"        # every row is sent, failed or unknown


class Outcome(enum.StrEnum):
    """What one run of a sender did, counted per message (``sent 28 failed 1 unknown 1``)."""

    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    RETRY = "retry"  # a 4xx: pending again, for a later attempt


def counts(session: Session, announcement_id: int) -> dict[RecipientState, int]:
    """Recipients per state, every state present (in the order of the enum)."""
    rows = session.execute(select(Recipient.state, func.count())
                           .where(Recipient.announcement_id == announcement_id)
                           .group_by(Recipient.state)).all()
    found = dict(rows)
    return {state: found.get(state, 0) for state in RecipientState}


def announcement_state(announcement: Announcement,
                       per_state: Mapping[str, int]) -> AnnouncementState:
    """Where ``announcement`` stands, given its ``counts``."""
    if announcement.recipients_at is None:
        return AnnouncementState.DRAFT
    if any(per_state.get(state, 0) for state in OPEN):
        return AnnouncementState.SENDING
    return AnnouncementState.DONE
