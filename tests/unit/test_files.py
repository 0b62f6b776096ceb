"""landingpad.files.make_own_dir: a socket's folder in /tmp that no one else can own or fill."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from landingpad import files
from landingpad.files import PASSAGE_DIR, UnsafeFolder, make_own_dir

NOBODY = 65534


@pytest.fixture
def sticky(tmp_path: Path) -> Path:
    """A folder like /tmp: anyone may create in it, only the owner may remove."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    os.chmod(folder, 0o1777)
    return folder


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_made_with_its_mode_whatever_the_umask(sticky, umask):
    old = os.umask(umask)
    try:
        folder = make_own_dir(sticky / "landingpad-abc")
    finally:
        os.umask(old)
    assert os.lstat(folder).st_mode & 0o7777 == PASSAGE_DIR
    assert make_own_dir(folder) == folder  # made before by this user: used as it is


def test_a_symlink_planted_in_its_place_is_refused(sticky, tmp_path):
    target = tmp_path / "theirs"
    target.mkdir(mode=0o700)
    (sticky / "landingpad-abc").symlink_to(target)
    with pytest.raises(UnsafeFolder, match="not a folder"):
        make_own_dir(sticky / "landingpad-abc")


def test_a_file_in_its_place_is_refused(sticky):
    (sticky / "landingpad-abc").write_text("")
    with pytest.raises(UnsafeFolder, match="not a folder"):
        make_own_dir(sticky / "landingpad-abc")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a folder away")
def test_a_folder_someone_else_made_first_is_refused(sticky):
    theirs = sticky / "landingpad-abc"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, NOBODY, NOBODY)
    with pytest.raises(UnsafeFolder, match=f"belongs to uid {NOBODY}.*someone else made it"):
        make_own_dir(theirs)


@pytest.mark.parametrize(("mode", "why"), [
    (0o777, "writable by its group or by anyone"), (0o770, "writable by its group or by anyone"),
    (0o2730, "writable by its group or by anyone"), (0o1777, "every user may write to"),
])
def test_a_folder_others_can_write_to_is_refused(sticky, mode, why):
    folder = sticky / "landingpad-abc"
    folder.mkdir()
    os.chmod(folder, mode)
    with pytest.raises(UnsafeFolder, match=why):
        make_own_dir(folder)


def test_a_parent_others_can_rename_it_in_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # not sticky: anyone could swap what is inside
    with pytest.raises(UnsafeFolder, match="not sticky"):
        make_own_dir(shared / "landingpad-abc")
    assert not (shared / "landingpad-abc").exists()


def test_uwsgi_runs_it_as_a_script_and_stops_on_a_refusal(sticky):
    # What exec-asap runs: python -I files.py FOLDER (exit status 0 or a reason).
    script = [sys.executable, "-I", files.__file__]
    made = subprocess.run([*script, str(sticky / "ok")], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert os.lstat(sticky / "ok").st_mode & 0o7777 == PASSAGE_DIR
    (sticky / "bad").symlink_to(sticky / "ok")
    refused = subprocess.run([*script, str(sticky / "bad")], capture_output=True, text=True)
    assert refused.returncode != 0
    assert "the socket's folder is not safe to use" in refused.stderr


# -- read_tail: the end of a log, read safely -----------------------------------------


@pytest.mark.parametrize(("content", "limit", "tail", "begins_line"), [
    (b"one\ntwo\n", 100, b"one\ntwo\n", True),  # shorter: all of it
    (b"one\ntwo\n", 4, b"two\n", True),  # the byte before is a newline
    (b"one\ntwo\n", 3, b"wo\n", False),  # cut inside a line
    (b"x" * 20, 5, b"xxxxx", False),
])
def test_read_tail_gives_the_end_and_says_if_it_begins_a_line(tmp_path, content, limit, tail,
                                                              begins_line):
    path = tmp_path / "log"
    path.write_bytes(content)
    data, written, whole = files.read_tail(path, limit)
    assert (data, whole) == (tail, begins_line)
    assert written == path.stat().st_mtime


def test_read_tail_reads_no_symlink_fifo_or_folder(tmp_path):
    target = tmp_path / "secret"
    target.write_text("not for the page")
    (tmp_path / "link").symlink_to(target)
    os.mkfifo(tmp_path / "fifo")  # would block a plain open() with no writer
    (tmp_path / "folder").mkdir()
    for name in ("link", "fifo", "folder"):
        with pytest.raises(OSError):
            files.read_tail(tmp_path / name, 100)
    with pytest.raises(FileNotFoundError):
        files.read_tail(tmp_path / "missing", 100)
