"""Writing config files so a reader sees the old or the new text, never a mix."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from landingpad.files import PASSAGE_DIR, make_dir, open_private, write_atomic

__all__ = ["exclusive_lock", "restore", "write_atomic"]  # write_atomic: kept importable here


def restore(path: Path, previous: bytes | None) -> None:
    """Put a file back as it was (None: it did not exist)."""
    if previous is None:
        path.unlink(missing_ok=True)
    else:
        write_atomic(path, previous)


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Serialise changes between processes (flock; released if the process dies)."""
    make_dir(path.parent, PASSAGE_DIR)
    # 0600: anyone who can open a lock file can hold the lock.
    with os.fdopen(open_private(path, append=True), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
