"""Bounce and complaint rates per announcement, and how near the providers' limit they are.

Gmail, Yahoo and Outlook refuse bulk mail from a sender whose complaint rate passes
0.3 %, and ask to stay under 0.1 %: the admin warns from WARN_COMPLAINT_RATE on,
and says the limit is passed from COMPLAINT_LIMIT.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from landingpad.storage.models import Bounce, BounceKind

WARN_COMPLAINT_RATE = 0.0008  # "near 0.1 %"
COMPLAINT_LIMIT = 0.001       # the providers' guidance: stay below
BOUNCE_WARN_RATE = 0.02       # more than 2 % bounced: an old or bought list


class Level(enum.StrEnum):
    OK = "ok"
    NEAR = "near"    # complaints approach 0.1 %
    OVER = "over"    # at or above 0.1 %


@dataclass(frozen=True)
class Rates:
    sent: int
    hard: int
    soft: int
    complaints: int

    @property
    def bounced(self) -> int:
        return self.hard + self.soft

    @property
    def bounce_rate(self) -> float:
        return self.bounced / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0

    @property
    def complaint_level(self) -> Level:
        if self.complaint_rate >= COMPLAINT_LIMIT:
            return Level.OVER
        return Level.NEAR if self.complaint_rate >= WARN_COMPLAINT_RATE else Level.OK

    @property
    def bounce_warning(self) -> bool:
        return self.bounce_rate >= BOUNCE_WARN_RATE


def announcement_rates(session: Session, announcement_id: int, sent: int) -> Rates:
    """Addresses of one announcement that bounced (hard, soft) or complained, of ``sent``.

    Each address counts once per kind, however many reports came about it.
    """
    rows = dict(session.execute(
        select(Bounce.kind, func.count(func.distinct(Bounce.address_hash)))
        .where(Bounce.announcement_id == announcement_id).group_by(Bounce.kind)).all())
    return Rates(sent, rows.get(BounceKind.HARD.value, 0), rows.get(BounceKind.SOFT.value, 0),
                 rows.get(BounceKind.COMPLAINT.value, 0))
