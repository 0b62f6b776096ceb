"""uWSGI options, in one place for `landingpad serve` and the rendered ini."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

# No %(addr): request logs never hold the visitor's IP address.
LOG_FORMAT = "%(method) %(host)%(uri) => %(status) %(size)B %(msecs)ms"
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


def app_options(processes: int) -> list[str]:
    """Options every landingpad uWSGI instance runs with."""
    return [
        "--module", "landingpad.wsgi:app",
        "--master", "--processes", str(processes),
        "--need-app", "--die-on-term", "--strict", "--vacuum", "--single-interpreter",
        "--py-call-osafterfork",  # run Python's at-fork hooks in workers
        "--post-buffering", "8192", "--buffer-size", "16384",
        "--harakiri", "30", "--max-requests", "20000",
        "--log-format", LOG_FORMAT,
    ]


def http_args(bind: str, processes: int) -> list[str]:
    """A standalone HTTP server (uWSGI's HTTP router) for local use."""
    return [uwsgi_binary(), "--http", bind, "--http-keepalive",
            "--static-map", f"/static={STATIC_DIR}", *app_options(processes)]
