"""Running nginx: find it, test a config, reload it, start and stop it (demo, tests)."""

from __future__ import annotations

import shutil
import subprocess
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

    def reload(self) -> bool:
        """Reload a running nginx. False when none is running (the config applies at start)."""
        result = self._run("-s", "reload")
        if result.returncode == 0:
            return True
        message = result.stderr.strip()
        if "nginx.pid" in message and ("No such file" in message or "No such process" in message
                                       or "invalid PID" in message):
            return False
        raise NginxError(message)

    def start_command(self) -> list[str]:
        """Foreground nginx with this config (the caller owns the process)."""
        return [self.binary, "-c", str(self.conf), "-g", "daemon off;"]
