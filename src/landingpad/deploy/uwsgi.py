"""uWSGI options, in one place for `landingpad serve` and the rendered uwsgi.ini."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from landingpad import files
from landingpad.logs import ADDRESS_PLACEHOLDER, CLIENT_VAR, SECRET_PATH, TOKEN_PLACEHOLDER
from landingpad.web import ADMIN_ENTRANCE, ENTRANCE
from landingpad.web.magic import ROUTES as MAGIC_ROUTES

# No %(addr): request logs never hold the visitor's IP address. %(uri) is REQUEST_URI,
# with a link's token replaced (PRIVATE_ROUTES below, and nginx's params).
LOG_FORMAT = "%(method) %(host)%(uri) => %(status) %(size)B %(msecs)ms worker=%(pid)"

# uWSGI's own lines name the client and the URI: a broken pipe or reset ("... during
# GET /x (1.2.3.4)"), SIGPIPE ("(ip 1.2.3.4)"), harakiri ("HARAKIRI [core 0] 1.2.3.4 -
# GET /x"). They print REMOTE_ADDR and REQUEST_URI, so before the app runs these routes
# keep the address where only the rate limits read it (CLIENT_VAR, unless nginx set
# it), put a placeholder in REMOTE_ADDR, and put a secret path's token out of
# REQUEST_URI. (nginx sends the placeholder and the redacted URI itself: behind it,
# even a line logged before the routes run holds neither.)
PRIVATE_ROUTES = [
    ("route-if", f"empty:${{{CLIENT_VAR}}} addvar:{CLIENT_VAR}=${{REMOTE_ADDR}}"),
    ("route-run", f"setremoteaddr:{ADDRESS_PLACEHOLDER}"),
    ("route", f"{SECRET_PATH} seturi:$1{TOKEN_PLACEHOLDER}"),
]
# Lines the master drops (log-drain: regexps). The HTTP router of `landingpad serve`
# names the client in its own error lines ("[uwsgi-http key: ... client_addr: 1.2.3.4
# client_port: ...] hr_read(): Connection reset by peer"); nothing else there is worth
# an address. The others are a safety net: a request error line, SIGPIPE or harakiri
# line that still holds something other than the placeholder (one logged before the
# routes ran, e.g. a full disk while buffering a body under `serve`). No outer spaces:
# an ini value loses them.
LOG_DRAINS = [
    "client_addr:",
    r"during \S+ \S+ \((?!-\))[^()]*\)$",
    r"\(ip (?!-\))[^()]*\) !!!",
    r"HARAKIRI \[core [0-9]+\] (?!- )",
]
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


def own_dir_command(folder: str) -> str:
    """The command uWSGI runs before it binds a unix socket in ``folder`` (exec-asap):
    make the folder its own, or refuse to start (files.make_own_dir).

    Run by path with ``-I``, the script imports only the standard library (no
    landingpad package, no Flask): a fraction of a second.
    """
    parts = [sys.executable, str(Path(files.__file__).resolve()), folder]
    for part in parts:  # /bin/sh runs it, and uWSGI expands % and $( in its config
        if not re.fullmatch(r"/[A-Za-z0-9._/@+-]+", part):
            raise ValueError(f"{part!r}: a path with other characters than letters, digits "
                             "and ._/@+- can't go into uwsgi.ini's exec-asap")
    return f"{parts[0]} -I {parts[1]} {parts[2]}"


def default_processes() -> int:
    return max(2, os.cpu_count() or 1)


# Threads per worker process. SQLite sign-ups of one process's threads share a
# commit and its fsync (storage.signups.GroupCommit): with one thread, every sign-up
# waits for its own fsync. Measured on 2 quiet cores at 32 connections (bench/README.md):
# 1 thread 1.54x the seed's sign-ups, p99 76 ms; 8 threads 1.93x, p99 84 ms; 16 threads
# 2.16x, p99 108 ms, and every GET pays for each thread. 8 also fits PostgreSQL's
# default pool (5 + 5 overflow): no thread waits for a connection.
THREADS = 8


def app_options(processes: int, threads: int = THREADS) -> list[tuple[str, str | None]]:
    """(option, value) pairs every landingpad uWSGI instance runs with (None: a flag)."""
    return [
        ("module", "landingpad.wsgi:app"),
        ("master", None),
        ("processes", str(processes)),
        ("threads", str(threads)),
        ("enable-threads", None),      # Python threads run (the outbox's sender, GIL held)
        ("need-app", None),            # refuse to start without a working app
        ("die-on-term", None),         # SIGTERM stops, as systemd expects
        ("strict", None),              # unknown options are errors
        ("vacuum", None),              # remove the socket and pid files on exit
        ("single-interpreter", None),
        ("py-call-osafterfork", None),  # run Python's at-fork hooks in workers
        ("post-buffering", "8192"),
        ("buffer-size", "16384"),
        ("harakiri", "30"),            # a stuck request is killed after 30 s
        # Recycle workers now and then (a slow leak). At 20,000 a busy worker restarted
        # every few seconds and served cold (bench/README). Not reload-on-rss: it reads
        # /proc/self/statm after every request.
        ("max-requests", "1000000"),
        ("max-requests-delta", "10000"),  # worker N after N x 10,000 more: never all at once
        ("log-format", LOG_FORMAT),
        *MAGIC_ROUTES,                 # first: a packet's orders to uWSGI itself, refused
        *PRIVATE_ROUTES,
        ("log-master", None),             # the master writes every line: it can drop some
        ("log-master-bufsize", "65536"),  # a long Python traceback stays one message
        *(("log-drain", regexp) for regexp in LOG_DRAINS),
    ]


def http_args(bind: str, processes: int, admin_bind: str | None = None,
              socket: str | None = None) -> list[str]:
    """A standalone HTTP server (uWSGI's HTTP router) for local use.

    ``admin_bind`` adds a second listener, the admin door. The router sets SERVER_PORT
    from the socket a request came in on (never from the request), and a route turns
    that port into the variable nginx's admin server block sets in production.

    ``socket``: the unix socket between the router and the workers, 0600. Without one
    uWSGI binds a uwsgi socket on 127.0.0.1 at a random port, which any local user
    could find and talk to (the uwsgi protocol has no authentication).
    """
    # static-gzip-all: a client that takes gzip gets a file's .gz twin (web/compress.py).
    args = [uwsgi_binary(), "--http", bind, "--http-keepalive",
            "--static-map", f"/static={STATIC_DIR}", "--static-gzip-all"]
    if socket:
        args += ["--socket", socket, "--chmod-socket=600"]  # an optional argument: with =
    if admin_bind:
        port = admin_bind.rpartition(":")[2]
        args += ["--http", admin_bind, "--route-if",
                 f"equal:${{SERVER_PORT}};{port} addvar:{ENTRANCE}={ADMIN_ENTRANCE}"]
    for name, value in app_options(processes):
        args += [f"--{name}"] + ([value] if value is not None else [])
    return args


def ini_lines(processes: int) -> list[str]:
    return [f"{name} = {'true' if value is None else value}"
            for name, value in app_options(processes)]
