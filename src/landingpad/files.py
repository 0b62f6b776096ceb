"""Files and folders created with the mode they need, whatever the process umask.

Who may read what (docs/security.md):
- private (files 0600, folders 0700): the database and its -wal/-shm, the
  rate-limit store, the mail folder and its .eml files, DKIM keys, the secret key.
- shared with nginx's group (files 0640, folders 0750): what nginx workers
  read: uploaded assets, the web root, the configs `deploy render` writes.
  A system nginx runs its workers as www-data; the README has the app run
  with that group, so group read is enough and "other" gets nothing.
- passage (0710): the data dir itself, and any parent folder landingpad has to
  create. nginx's group may pass through it to assets/ and deploy/ (the
  uWSGI socket) but not list it; private files inside stay 0600.

Shared and passage folders also carry the setgid bit: what is made inside them
takes the folder's group, not the creator's. So after the README's one
`chgrp -R www-data`, a logo uploaded from a shell (`landingpad asset upload`,
primary group not www-data) is still readable by nginx.

An existing folder or file keeps its mode: the operator may have chosen it.
"""

from __future__ import annotations

import fcntl
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
SHARED_FILE = 0o640
SHARED_DIR = 0o2750  # setgid: new entries keep the folder's group
PASSAGE_DIR = 0o2710


def make_dir(path: Path, mode: int, parents_mode: int = PASSAGE_DIR) -> Path:
    """Create ``path`` with ``mode`` (missing parents with ``parents_mode``); keep an existing one.

    ``mkdir(parents=True)`` would give every new folder 0777 minus the umask:
    with umask 0 that is world-writable.
    """
    missing: list[Path] = []
    probe = Path(path)
    while not probe.is_dir():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        wanted = mode if folder == path else parents_mode
        try:
            os.mkdir(folder, wanted)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue  # another process made it first: its mode stands
        os.chmod(folder, wanted)  # mkdir's mode is cut by the umask; chmod's is not
    return path


def make_data_dir(path: Path) -> Path:
    """The install's data dir: 0710 when landingpad creates it."""
    return make_dir(path, PASSAGE_DIR)


class UnsafeFolder(OSError):
    """A folder that someone other than this user could write to, or that isn't ours."""


def make_own_dir(path: Path, mode: int = PASSAGE_DIR) -> Path:
    """A folder that only this user can write, made here if missing, e.g. in /tmp.

    For a unix socket whose path must be short: a predictable name in a folder that
    anyone can write to (sticky /tmp) could be taken first by another local user,
    who would then receive nginx's requests. So the folder is created with ``mode``
    (0710: nginx's group may pass through to the socket), and used only if it is a
    real folder (not a symlink) owned by this user, writable by no one else, in a
    parent that no one else can rename it out of. Otherwise UnsafeFolder, saying why.
    """
    path = Path(path)
    parent = os.stat(path.parent)
    if parent.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not parent.st_mode & stat.S_ISVTX:
        raise UnsafeFolder(f"{path.parent} is writable by others and not sticky: "
                           f"{path.name} could be swapped")
    try:
        os.mkdir(path, mode)
        created = True
    except FileExistsError:
        created = False
    found = os.lstat(path)
    if not stat.S_ISDIR(found.st_mode):
        raise UnsafeFolder(f"{path} is not a folder (a symlink or a file someone put there)")
    if found.st_mode & stat.S_IWOTH and found.st_mode & stat.S_ISVTX:
        raise UnsafeFolder(f"{path} is a folder every user may write to (like /tmp): "
                           "a socket needs a folder of its own")
    if found.st_uid != os.geteuid():
        raise UnsafeFolder(f"{path} belongs to uid {found.st_uid}, not to this user "
                           f"({os.geteuid()}): someone else made it first; remove it")
    if created:
        # Not swappable now (ours, in a sticky or private parent). mkdir's mode is cut
        # by the umask; chmod's is not. O_NOFOLLOW: this very folder or nothing.
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            os.fchmod(fd, mode)
            found = os.fstat(fd)
        finally:
            os.close(fd)
    if found.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeFolder(f"{path} is writable by its group or by anyone "
                           f"(mode {found.st_mode & 0o7777:o}): chmod go-w it")
    return path


def create_private(path: Path) -> bool:
    """Create an empty 0600 file if there is none (True when it was created here).

    SQLite creates its -wal and -shm files with the main file's mode, so a
    database file made here first keeps all three private.
    """
    make_dir(path.parent, PASSAGE_DIR)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
    return True


def open_private(path: Path, append: bool = False) -> int:
    """A write descriptor on ``path``: a new file is made 0600; an existing one keeps its mode."""
    flags = os.O_WRONLY | os.O_NOFOLLOW | (os.O_APPEND if append else os.O_TRUNC)
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return os.open(path, flags)
    os.fchmod(fd, PRIVATE_FILE)  # the umask may have cut owner bits too
    return fd


def read_tail(path: Path, limit: int) -> tuple[bytes, float, bool]:
    """The last ``limit`` bytes of the regular file ``path`` (all of it if shorter), when
    it was last written, and whether those bytes begin a line.

    Only the file itself: not through a symlink (as open_private writes), and not a
    FIFO or device, which could block or never end (OSError, as for a missing file).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{path}: not a regular file")
        if info.st_size <= limit:
            return file.read(limit), info.st_mtime, True
        file.seek(info.st_size - limit - 1)
        data = file.read(limit + 1)  # with the byte before, to tell a line's start
        return data[1:], info.st_mtime, data[:1] == b"\n"


def write_atomic(path: Path, data: bytes, mode: int = SHARED_FILE) -> None:
    """Write to a temp file in the same folder, fsync, rename over the target.

    A new file gets ``mode``; an existing one keeps its own.
    """
    make_dir(path.parent, PASSAGE_DIR)
    mode = path.stat().st_mode & 0o777 if path.exists() else mode
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)


class UnsafePath(ValueError):
    """A relative path that could leave its folder, or be read two ways."""


def safe_relative_path(text: str) -> str:
    """``text`` if it is a plain relative path that stays inside its folder, else UnsafePath.

    The one check for every path taken from a request, a setting or a file
    name: no ``..`` or ``.`` segments, no empty segments, nothing absolute, no
    backslash (a separator to some servers), no NUL or control character, and
    no percent sign (the caller decodes once; what is still encoded after that
    is a second encoding meant to slip past a check).
    """
    if not text:
        raise UnsafePath("empty path")
    if text.startswith("/"):
        raise UnsafePath("absolute path")
    if any(c in text for c in "\\%") or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise UnsafePath("backslash, percent sign or control character in the path")
    segments = text.split("/")
    if any(s in ("", ".", "..") for s in segments) or PurePosixPath(text).is_absolute():
        raise UnsafePath("path has an empty, '.' or '..' segment")
    return text


def safe_url_path(path: str) -> str:
    """A same-site URL path (``/...``) whose decoded segments pass safe_relative_path."""
    if not path.startswith("/") or path.startswith("//"):
        raise UnsafePath("must be a path on the site itself, starting with one /")
    decoded = unquote(path[1:], errors="strict")
    safe_relative_path(decoded)
    return path


if __name__ == "__main__":
    # `python -I .../landingpad/files.py FOLDER`: uWSGI runs this (exec-asap, before it
    # binds a unix socket outside the deploy dir). Run by path, nothing but the standard
    # library is imported, so it is quick; uWSGI refuses to start on a non-zero exit.
    try:
        make_own_dir(Path(sys.argv[1]))
    except OSError as exc:
        sys.exit(f"landingpad: the socket's folder is not safe to use: {exc}")


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
