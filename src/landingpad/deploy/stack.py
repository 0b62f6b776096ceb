"""The production stack on one machine: uWSGI on a unix socket, nginx in front.

Used by `landingpad demo` (in the foreground, Ctrl-C stops both) and by the
tests. Each process is stopped by its own pid.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from landingpad.deploy.nginx import Nginx
from landingpad.deploy.render import DeployOptions, prepare_dirs, render_all
from landingpad.deploy.uwsgi import uwsgi_binary
from landingpad.files import open_private, write_atomic
from landingpad.sites.sitesfile import load_sites


@dataclass
class Stack:
    options: DeployOptions
    nginx_binary: str
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    uwsgi: subprocess.Popen | None = None
    nginx: subprocess.Popen | None = None

    @property
    def deploy_dir(self) -> Path:
        return Path(self.options.deploy_dir)

    def render(self, sites_file: Path) -> None:
        for name, text in render_all(self.options, load_sites(sites_file)).items():
            write_atomic(self.deploy_dir / name, text.encode())
        prepare_dirs(self.options)
        self.options.save()
        Nginx(self.nginx_binary, self.deploy_dir / "nginx.conf").test()

    @property
    def uwsgi_log(self) -> Path:
        return self.deploy_dir / "logs" / "uwsgi.log"

    def running_pid(self) -> int | None:
        """The pid of an nginx already serving this deploy dir, if any."""
        try:
            pid = int((self.deploy_dir / "nginx.pid").read_text().split()[0])
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, IndexError, ProcessLookupError):
            return None
        return pid

    def start(self, timeout: float = 30.0) -> None:
        if (pid := self.running_pid()) is not None:
            raise RuntimeError(f"this data dir is already being served (nginx pid {pid})")
        (self.deploy_dir / "nginx.pid").unlink(missing_ok=True)
        deadline = time.monotonic() + timeout
        self.start_uwsgi(deadline)
        nginx = Nginx(self.nginx_binary, self.deploy_dir / "nginx.conf")
        self.nginx = subprocess.Popen(nginx.start_command())
        # Ready when the app itself answers through nginx (any status but a 502/504):
        # uWSGI loses a SIGTERM that arrives while it is still starting.
        while not self._app_answers():
            if self.nginx.poll() is not None or self.uwsgi.poll() is not None \
                    or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the stack did not start: see {self.deploy_dir}/logs/")
            time.sleep(0.05)

    def start_uwsgi(self, deadline: float) -> None:
        """Start uWSGI (again, after a crash) and wait for its socket."""
        socket = Path(self.options.socket)
        socket.unlink(missing_ok=True)  # a crashed uWSGI leaves it behind
        with os.fdopen(open_private(self.uwsgi_log, append=True), "ab") as log:
            self.uwsgi = subprocess.Popen(
                [uwsgi_binary(), "--ini", str(self.deploy_dir / "uwsgi.ini")], env=self.env,
                stdout=log, stderr=subprocess.STDOUT)
        while not socket.exists():
            if self.uwsgi.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"uWSGI did not start: see {self.uwsgi_log}")
            time.sleep(0.05)

    def _app_answers(self) -> bool:
        host, _, port = self.options.listen.rpartition(":")
        # "[::1]" from an IPv6 listen: http.client wants the bare address.
        conn = http.client.HTTPConnection(host.strip("[]") or "127.0.0.1", int(port), timeout=2)
        try:
            conn.request("GET", "/", headers={"Host": "localhost"})
            return conn.getresponse().status not in (502, 503, 504)
        except OSError:
            return False
        finally:
            conn.close()

    def stop(self, timeout: float = 15.0) -> None:
        # nginx: graceful quit; uWSGI: die-on-term. SIGKILL whoever lingers.
        for proc, sig in ((self.nginx, signal.SIGQUIT), (self.uwsgi, signal.SIGTERM)):
            if proc is None or proc.poll() is not None:
                continue
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline:
                os.kill(proc.pid, sig)  # repeated: a signal can be lost during start-up
                try:
                    proc.wait(3)
                except subprocess.TimeoutExpired:
                    continue
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout)

    def wait(self) -> int:
        """Block until either process exits; return its exit code."""
        while True:
            for proc in (self.uwsgi, self.nginx):
                if proc is not None and proc.poll() is not None:
                    return proc.returncode
            time.sleep(0.2)
