"""uWSGI options, in one place for `landingpad serve` and the rendered uwsgi.ini."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

# No %(addr): request logs never hold the visitor's IP address.
LOG_FORMAT = "%(method) %(host)%(uri) => %(status) %(size)B %(msecs)ms worker=%(pid)"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def uwsgi_binary() -> str:
    """pyuwsgi's ``uwsgi`` launcher next to this Python, else one on PATH."""
    beside = Path(sys.executable).with_name("uwsgi")
    if beside.exists():
        return str(beside)
    found = shutil.which("uwsgi")
    if not found:
        raise FileNotFoundError("uwsgi not found: pip install pyuwsgi")
    return found


def default_processes() -> int:
    return max(2, os.cpu_count() or 1)


def app_options(processes: int) -> list[tuple[str, str | None]]:
    """(option, value) pairs every landingpad uWSGI instance runs with (None: a flag)."""
    return [
        ("module", "landingpad.wsgi:app"),
        ("master", None),
        ("processes", str(processes)),
        ("need-app", None),            # refuse to start without a working app
        ("die-on-term", None),         # SIGTERM stops, as systemd expects
        ("strict", None),              # unknown options are errors
        ("vacuum", None),              # remove the socket and pid files on exit
        ("single-interpreter", None),
        ("py-call-osafterfork", None),  # run Python's at-fork hooks in workers
        ("post-buffering", "8192"),
        ("buffer-size", "16384"),
        ("harakiri", "30"),            # a stuck request is killed after 30 s
        ("max-requests", "20000"),     # recycle workers now and then
        ("log-format", LOG_FORMAT),
    ]


def http_args(bind: str, processes: int) -> list[str]:
    """A standalone HTTP server (uWSGI's HTTP router) for local use."""
    args = [uwsgi_binary(), "--http", bind, "--http-keepalive",
            "--static-map", f"/static={STATIC_DIR}"]
    for name, value in app_options(processes):
        args += [f"--{name}"] + ([value] if value is not None else [])
    return args


def ini_lines(processes: int) -> list[str]:
    return [f"{name} = {'true' if value is None else value}"
            for name, value in app_options(processes)]
