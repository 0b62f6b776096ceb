"""`landingpad domain add` when things go wrong: nginx stopped, a full disk, a read-only data
dir. The config is the old one or the new one, never broken, and the command says which."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from landingpad.sites.sitesfile import load_sites
from tests.reliability.conftest import record
from tests.servers import request

pytestmark = pytest.mark.functional
LANDINGPAD = str(Path(sys.executable).with_name("landingpad"))


def landingpad(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([LANDINGPAD, *args], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=60)


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix in (".toml", ".conf", ".ini")}


def test_with_nginx_stopped_the_change_waits_for_its_start(open_stack, cli_env, data_dir):
    open_stack.stop()
    result = landingpad(cli_env, "domain", "add", "later.test", "--title", "Later")
    assert result.returncode == 0, result.stderr
    assert "nginx is not running: the new config applies when it starts" in result.stdout
    open_stack.start()
    status, _, body = request(open_stack.port, "GET", "/", "later.test")
    assert status == 200 and b"Later" in body


@pytest.fixture
def small_disk(tmp_path):
    """A 512 KiB tmpfs (root only: mounting needs it; CI runs as root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.fixture
def rendered_on(small_disk, data_dir, cli_env):
    data = small_disk / "data"
    data.mkdir()
    shutil.copy(data_dir / "sites.toml", data / "sites.toml")
    env = {**cli_env, "LANDINGPAD_DATA_DIR": str(data)}
    result = landingpad(env, "deploy", "render", "--listen", "127.0.0.1:1")
    assert result.returncode == 0, result.stderr
    return data, env


def fill(folder: Path) -> None:
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass  # full
    finally:
        os.close(fd)


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_a_disk_fault_changes_nothing_and_says_so(rendered_on, small_disk, fault):
    data, env = rendered_on
    before = files(data)
    if fault == "full":
        fill(small_disk)
    else:
        subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    result = landingpad(env, "domain", "add", "nospace.test", "--title", "No space")
    assert result.returncode != 0
    message = result.stderr + result.stdout
    assert ("No space left" if fault == "full" else "Read-only file system") in message
    assert "Traceback" not in message
    assert files(data) == before  # the old config, whole
    assert "nospace.test" not in load_sites(data / "sites.toml").sites

    if fault == "full":
        (small_disk / "filler").unlink()
    else:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    result = landingpad(env, "domain", "add", "nospace.test", "--title", "No space")
    assert result.returncode == 0, result.stderr
    record(f"domain_add_{fault}", {"refused_cleanly": True, "files_unchanged": True})
