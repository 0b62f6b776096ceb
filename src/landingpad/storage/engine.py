"""Engines: SQLite tuned for durability, PostgreSQL through psycopg 3, safe across fork."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from landingpad.files import create_private, open_private


def normalise_url(url: str) -> str:
    """Let users write postgresql:// and still get psycopg 3 (SQLAlchemy's default is psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
    # Every connection: WAL for concurrent readers, FULL so a commit survives power loss,
    # a busy timeout so uWSGI workers queue for the write lock instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str, pool_size: int = 5, max_overflow: int = 5) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.query.get("uri"):
            # Made 0600 before SQLite opens it: SQLite gives the -wal and -shm files
            # the main file's mode, so all three stay private whatever the umask.
            create_private(Path(parsed.database))
        # hide_parameters: a failed statement's log line and traceback never carry
        # the addresses it was bound to.
        engine = create_engine(url, connect_args={"timeout": 10}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # A pool per process: N nodes x processes x (pool_size + max_overflow) must stay
    # under the server's max_connections (docs/scale-out.md).
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size,
                         max_overflow=max_overflow, pool_timeout=10, hide_parameters=True)


class _WriteLock:
    """A process's hold on one database's write lock: its descriptor for flock and a
    thread lock, re-entrant (a nested write_lock in one thread takes flock once)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.threads = threading.RLock()
        self.depth = 0  # changed only by the thread holding ``threads``


_lock_files: dict[tuple[str, int], _WriteLock] = {}
_lock_files_lock = threading.Lock()


@contextmanager
def sqlite_write_lock(database: str) -> Iterator[None]:
    """Queue SQLite writers of all processes on a kernel lock around each write transaction.

    Without it, a uWSGI worker that finds the database locked sleeps in
    SQLite's busy handler (1, 2, 5, 10 ms...) instead of starting the moment the
    other commits: a lock convoy that ruins tail latency. flock wakes the
    next writer at once and is released if its holder dies. flock does not
    exclude threads of one process (they share the descriptor): a thread lock
    queues those first (uWSGI threads, the outbox's background thread).
    """
    key = (database, os.getpid())  # a descriptor per process: never shared across fork
    held = _lock_files.get(key)
    if held is None:
        with _lock_files_lock:
            held = _lock_files.get(key)
            if held is None:
                held = _lock_files[key] = _WriteLock(
                    open_private(Path(f"{database}.writelock"), append=True))
    with held.threads:
        held.depth += 1
        try:
            if held.depth == 1:
                fcntl.flock(held.fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if held.depth == 1:
                    fcntl.flock(held.fd, fcntl.LOCK_UN)
        finally:
            held.depth -= 1


def sqlite_file(engine: Engine) -> str | None:
    """The database file of a SQLite engine (None: another database, or in memory)."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return url.database
    return None


def write_lock(engine: Engine) -> AbstractContextManager[None]:
    """The lock a write transaction on this engine takes (SQLite files only)."""
    database = sqlite_file(engine)
    return sqlite_write_lock(database) if database else nullcontext()


class EngineHolder:
    """Creates the engine lazily in the process that uses it.

    uWSGI forks workers after loading the app; a pooled connection opened in
    the master must never be used by two processes, so a pid change drops
    the inherited pool (without closing the parent's sockets).
    """

    def __init__(self, url: str, **pool: int) -> None:
        self.url = url
        self.pool = pool
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._pid = 0
        self._lock = threading.Lock()

    @property
    def sessions(self) -> sessionmaker[Session]:
        """One sessionmaker per engine: building one per request is measurably slow."""
        engine = self.engine
        if self._sessions is None or self._sessions.kw["bind"] is not engine:
            self._sessions = sessionmaker(bind=engine, expire_on_commit=False)
        return self._sessions

    @property
    def engine(self) -> Engine:
        pid = os.getpid()
        if self._engine is None or self._pid != pid:
            with self._lock:  # a worker's threads: one engine, one pool
                if self._engine is None:
                    self._engine = make_engine(self.url, **self.pool)
                elif self._pid != pid:
                    self._engine.dispose(close=False)
                self._pid = pid
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
