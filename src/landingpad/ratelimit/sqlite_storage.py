"""A `limits` storage in a SQLite file: rate-limit counters shared by every process of a machine.

Used when no ``REDIS_URL`` is set. Per-process memory would let each uWSGI
worker count on its own (N workers: N times the limit). The counters are
throw-away, so the file trades durability for speed (``synchronous=OFF``): a
crash can lose a few counts, never the sign-ups, which live in the real
database. Fixed windows only, which is the strategy landingpad uses.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

from limits.storage import Storage

from landingpad.files import create_private
from landingpad.storage.engine import sqlite_write_lock

_SCHEMA = ("CREATE TABLE IF NOT EXISTS counters ("
           "key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires REAL NOT NULL) WITHOUT ROWID")
# One statement, so two processes can't both read the old count: a passed window
# starts again at `amount`, a live one adds to it.
_INCR = ("INSERT INTO counters (key, count, expires) VALUES (?1, ?2, ?3) "
         "ON CONFLICT (key) DO UPDATE SET "
         "count = CASE WHEN expires <= ?4 THEN ?2 ELSE count + ?2 END, "
         "expires = CASE WHEN expires <= ?4 THEN ?3 ELSE expires END "
         "RETURNING count")
_SWEEP_EVERY = 1000  # increments between deletions of expired counters


class SQLiteStorage(Storage):
    """``landingpad+sqlite:///path/to/file.sqlite``"""

    STORAGE_SCHEME = ["landingpad+sqlite"]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: float | str | bool
                 ) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path = Path(uri.split("://", 1)[1])
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._incrs = 0
        # One connection per process, shared by its threads: one statement at a time.
        self._lock = threading.RLock()

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def _db(self) -> sqlite3.Connection:
        # One connection per process: uWSGI forks after the app is loaded.
        if self._conn is None or self._pid != os.getpid():
            create_private(self.path)  # 0600 first: SQLite's -wal/-shm copy its mode
            conn = sqlite3.connect(self.path, timeout=5, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(_SCHEMA)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        # Writers of all processes queue on a kernel lock, as the database's do: in
        # SQLite's busy handler, every worker's sign-up on one counter slept 1 ms or
        # more whenever two met (a lock convoy).
        with self._lock, sqlite_write_lock(str(self.path)):
            db = self._db()
            (count,) = db.execute(_INCR, (key, amount, now + expiry, now)).fetchone()
            self._incrs += 1
            if self._incrs % _SWEEP_EVERY == 0:
                db.execute("DELETE FROM counters WHERE expires <= ?", (now,))
        return count

    def get(self, key: str) -> int:
        with self._lock:
            row = self._db().execute("SELECT count FROM counters WHERE key = ? AND expires > ?",
                                     (key, time.time())).fetchone()
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        with self._lock:
            row = self._db().execute(
                "SELECT expires FROM counters WHERE key = ? AND expires > ?",
                (key, time.time())).fetchone()
        return row[0] if row else time.time()

    def check(self) -> bool:
        try:
            with self._lock:
                self._db().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        with self._lock:
            return self._db().execute("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        with self._lock:
            self._db().execute("DELETE FROM counters WHERE key = ?", (key,))
