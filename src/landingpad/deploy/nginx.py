"""Running nginx: find it, test a config, reload it, start and stop it (demo, tests)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


class NginxError(RuntimeError):
    """nginx refused a config or a signal; the message is nginx's own."""


def find_nginx(configured: str = "") -> str | None:
    if configured:
        return configured
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None)


@dataclass
class Nginx:
    binary: str
    conf: Path

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([self.binary, "-c", str(self.conf), *args],
                              capture_output=True, text=True, timeout=60)

    def test(self) -> None:
        result = self._run("-t", "-q")
        if result.returncode != 0:
            raise NginxError(result.stderr.strip() or result.stdout.strip())

    def master_pid(self) -> int | None:
        """The running master's pid, from the `pid` file the config names."""
        match = re.search(r"^\s*pid\s+([^;\s]+)\s*;", self.conf.read_text(), re.MULTILINE)
        path = Path(match.group(1)) if match else Path("/run/nginx.pid")
        try:
            return int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    @staticmethod
    def workers(master: int) -> set[int]:
        try:
            return {int(p) for p in
                    Path(f"/proc/{master}/task/{master}/children").read_text().split()}
        except OSError:
            return set()

    def reload(self, timeout: float = 5.0) -> bool:
        """Reload a running nginx and wait until the new config serves.

        False when none is running (the config applies at start). `nginx -s
        reload` only signals the master: until new workers replace the old
        ones, requests still see the old config, so this waits for that.
        """
        master = self.master_pid()
        before = self.workers(master) if master else set()
        result = self._run("-s", "reload")
        if result.returncode == 0:
            deadline = time.monotonic() + timeout
            while master and before and time.monotonic() < deadline:
                now = self.workers(master)
                if now - before and not now & before:
                    break  # new workers up, old ones gone
                time.sleep(0.02)
            return True
        message = result.stderr.strip()
        if "nginx.pid" in message and ("No such file" in message or "No such process" in message
                                       or "invalid PID" in message):
            return False
        raise NginxError(message)

    def start_command(self) -> list[str]:
        """Foreground nginx with this config (the caller owns the process)."""
        return [self.binary, "-c", str(self.conf), "-g", "daemon off;"]
