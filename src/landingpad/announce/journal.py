"""A sender's row changes, written one commit per message.

A change is staged on the row and written with the next commit, as a Core
UPDATE: the ORM's flush of a changed object cost more than the rest of a
message. The commit that makes a row `sending` can run in the background while
the envelope is exchanged (commit 830aa95, measured: 113-124 -> 154-178 msg/s).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Update, bindparam, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from landingpad.announce.lease import Lease
from landingpad.storage.models import Recipient

_RECIPIENTS = Recipient.__table__
_updates: dict[frozenset[str], Update] = {}


class LostClaim(RuntimeError):
    """A row this sender held was taken over by another (which judged it dead): the
    change is not written, and the message it was for is not sent."""


def _update_of(columns: frozenset[str]) -> Update:
    """A Core UPDATE of one recipient row's ``columns``, built once per set of columns,
    that changes it only while this sender still holds it."""
    if columns not in _updates:
        _updates[columns] = update(_RECIPIENTS).where(
            _RECIPIENTS.c.id == bindparam("row_id"),
            _RECIPIENTS.c.claimed_by == bindparam("holder")).values(
            {name: bindparam(name, type_=_RECIPIENTS.c[name].type) for name in columns})
    return _updates[columns]


class Journal:
    def __init__(self, lease: Lease, write: Callable[[], AbstractContextManager[None]]) -> None:
        self.lease = lease
        self.write = write  # the queue's write lock (SQLite), taken around every commit
        self._staged: list[tuple[Recipient, dict[str, Any]]] = []
        self._committer: ThreadPoolExecutor | None = None

    def stage(self, row: Recipient, **values: Any) -> None:
        """Change a row for the next commit. The object shows the values at once, and
        the ORM sees nothing to flush."""
        for name, value in values.items():
            set_committed_value(row, name, value)
        self._staged.append((row, values))

    @property
    def staged(self) -> int:
        return len(self._staged)

    def commit(self, session: Session) -> None:
        """Write what is staged, and renew the lease, in one transaction. LostClaim (and
        nothing written) if another sender took over a row meanwhile."""
        with self.write():
            self.lease.beat(session)
            if self._staged:
                connection = session.connection()
                holder = self.lease.identity
                for row, values in self._staged:
                    written = connection.execute(_update_of(frozenset(values)),
                                                 {"row_id": row.id, "holder": holder, **values})
                    if written.rowcount != 1:
                        session.rollback()
                        self._staged = []
                        raise LostClaim(f"recipient row {row.id} was taken over by another "
                                        "sender (this one was judged dead): stopped")
                self._staged = []
            session.commit()

    def commit_in_background(self, session: Session) -> Future[None]:
        """commit() on a thread of its own; the caller leaves ``session`` alone until the
        future is done (the SMTP exchange doesn't touch it)."""
        if self._committer is None:
            self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit")
        return self._committer.submit(self.commit, session)

    def close(self) -> None:
        if self._committer is not None:
            self._committer.shutdown()
            self._committer = None
