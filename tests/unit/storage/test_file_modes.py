"""The database files are created private, whatever the umask (issue 16, item 12)."""

import os

import pytest

from landingpad.storage.engine import make_engine
from landingpad.storage.migrations import upgrade


@pytest.fixture(params=[0o000, 0o022], ids=["umask000", "umask022"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path) -> int:
    return os.stat(path).st_mode & 0o777


def test_a_sqlite_database_and_its_wal_and_shm_are_private_whatever_the_umask(tmp_path, umask):
    from landingpad.storage.engine import write_lock

    path = tmp_path / "new-data" / "landingpad.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with write_lock(engine), engine.begin() as conn:  # a write, so the WAL has content
        conn.exec_driver_sql("CREATE TABLE t (x)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        files = {p.name: mode(p) for p in path.parent.iterdir()}  # -wal/-shm while open
    engine.dispose()
    assert files == {"landingpad.db": 0o600, "landingpad.db-wal": 0o600,
                     "landingpad.db-shm": 0o600, "landingpad.db.writelock": 0o600}
    assert mode(path.parent) == 0o710  # a folder it had to make: passable, not listable


def test_an_existing_database_file_keeps_the_mode_its_owner_gave_it(tmp_path):
    path = tmp_path / "x.db"
    path.touch()
    os.chmod(path, 0o640)
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    engine.dispose()
    assert mode(path) == 0o640
