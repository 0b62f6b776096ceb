"""uWSGI's magic variables: orders a uwsgi packet can give uWSGI itself, refused.

uWSGI reads some request variables as orders, not data (core/protocol.c and the
Python plugin, 2.0.30): UWSGI_FILE, UWSGI_SCRIPT, UWSGI_MODULE and UWSGI_CALLABLE
load new code into the worker (``UWSGI_FILE=exec://cmd`` runs a shell command),
with UWSGI_APPID (or any SCRIPT_NAME) picking a mountpoint that has no app yet;
UWSGI_CHDIR, UWSGI_PYHOME/UWSGI_HOME and UWSGI_TOUCH_RELOAD go with that loading;
UWSGI_SCHEME sets wsgi.url_scheme; UWSGI_CACHE_GET reads a uWSGI cache;
UWSGI_POSTFILE opens any file the app's user can read as the request body;
UWSGI_SETENV calls setenv() in the worker. `need-app` and `strict` don't stop any
of them. nginx never sends these names (a client's headers arrive as HTTP_*), nor
does `landingpad serve`'s HTTP router (it adds UWSGI_ROUTER only), so only someone
who talks to the uWSGI socket directly can.

When each acts, against when a route can refuse it (core/utils.c wsgi_req_recv):
uwsgi_apply_routes() first parses the packet (uwsgi_parse_vars), then runs the
routes, then hands the request to the plugin of the packet's modifier1.
- While parsing, before any route: UWSGI_SETENV is already setenv() and
  UWSGI_POSTFILE already fopen()ed. No route or option can stop that.
- Everything else only sets fields that the Python plugin reads after the routes
  (uwsgi_request_wsgi -> init_uwsgi_app -> uwsgi_dyn_loader), and uWSGI 2.0 has no
  option to turn dynamic loading off. So ROUTES refuse those with a 403 first:
  nothing is loaded, no folder changed, and the opened post file is closed unread.

What the routes can't refuse, the worker undoes: EnvironGuard puts the process
environment back as it was when the app was loaded, right after every request
(uwsgi.after_req_hook, which runs for refused requests too) and again before the
app sees the next one. ``setmodifier1:0`` sends every packet to the Python
plugin (no other request plugin of pyuwsgi, signal/rpc/cache/spooler/symcall/ping,
is configured or wanted), so that hook also follows a refused packet that asked
for another plugin. The one gap: a packet that fails to parse after its
UWSGI_SETENV and asks for another plugin skips the routes and the hook; its
change lasts until that worker's next request starts.

This is defence in depth. The uwsgi protocol has no authentication: whoever
reaches the socket can still send LANDINGPAD_ENTRANCE, LANDING_* or REMOTE_ADDR.
The socket must be reachable by nginx alone (docs/security.md).
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)

# Every name uWSGI 2.0.30's core acts on (core/protocol.c's uwsgi_proto_check_*).
MAGIC_VARS = frozenset({
    "UWSGI_FILE", "UWSGI_SCRIPT", "UWSGI_MODULE", "UWSGI_CALLABLE", "UWSGI_APPID",
    "UWSGI_CHDIR", "UWSGI_HOME", "UWSGI_PYHOME", "UWSGI_TOUCH_RELOAD", "UWSGI_SCHEME",
    "UWSGI_CACHE_GET", "UWSGI_POSTFILE", "UWSGI_SETENV",
})

# First in the route chain. ${NAME} is the packet's last NAME, the one uWSGI acts on
# (uwsgi_get_var scans backwards; the parser keeps the last). An empty value orders
# nothing: each loader, chdir and home needs a length > 0.
ROUTES: list[tuple[str, str]] = [
    ("route-run", "setmodifier1:0"),
    *(("route-if-not", f"empty:${{{name}}} break:403") for name in sorted(MAGIC_VARS)),
]


class EnvironGuard:
    """Keeps the process's C environment as it was when the app was loaded.

    Python's ``os.environ`` is a copy taken at start-up: a setenv() from a packet
    doesn't show there, but OpenSSL (SSL_CERT_FILE), libpq (PGSSLMODE...), the C
    library (TZ) and every child process read the real one. ``check`` compares the
    environ array with what it was (one read: its address and its pointers) and only
    on a difference puts each variable back, keeping what the app itself changed
    through ``os.environ`` since.
    """

    def __init__(self) -> None:
        self._environ = ctypes.c_void_p.in_dll(ctypes.CDLL(None), "environ")
        self._loaded = self._read()
        self._python_at_load = dict(os.environb)
        self._mark = self._fingerprint()

    def _entries(self) -> list[bytes]:
        entries = ctypes.cast(self._environ.value, ctypes.POINTER(ctypes.c_char_p))
        found = []
        while (entry := entries[len(found)]) is not None:
            found.append(entry)
        return found

    def _read(self) -> dict[bytes, bytes]:
        found: dict[bytes, bytes] = {}
        for entry in self._entries():
            name, _, value = entry.partition(b"=")
            found.setdefault(name, value)  # getenv() returns the first
        return found

    def _fingerprint(self) -> tuple[int | None, bytes, ctypes.Array]:
        address = self._environ.value
        # The array's pointers, one past the end: a new variable replaces the NULL
        # there, a changed one its pointer; a grown array may also move.
        size = (len(self._entries()) + 1) * ctypes.sizeof(ctypes.c_void_p)
        # A view of those bytes, made once: reading it is a memcpy, where string_at is a
        # foreign call per check (0.14 against 0.78 us; it runs twice per request).
        view = (ctypes.c_char * size).from_address(address)
        return address, view.raw, view

    def _wanted(self) -> dict[bytes, bytes]:
        wanted = dict(self._loaded)
        now = dict(os.environb)
        for name in self._python_at_load.keys() | now.keys():
            if now.get(name) != self._python_at_load.get(name):  # the app's own change
                if name in now:
                    wanted[name] = now[name]
                else:
                    wanted.pop(name, None)
        return wanted

    def check(self) -> int:
        """Put back what changed behind Python's back; how many variables that was."""
        address, pointers, view = self._mark
        # The view is read only while the array is still at its address (not freed).
        if self._environ.value == address and view.raw == pointers:
            return 0
        wanted, current = self._wanted(), self._read()
        changed = 0
        for name in current.keys() - wanted.keys():
            changed += _quietly(os.unsetenv, name)
        for name, value in wanted.items():
            if current.get(name) != value:
                changed += _quietly(os.putenv, name, value)
        self._mark = self._fingerprint()
        if changed:
            log.warning("a request changed this uWSGI worker's environment (UWSGI_SETENV "
                        "straight to the socket?): %d variable(s) put back", changed)
        return changed


def _quietly(change: Callable[..., None], *args: bytes) -> int:
    try:
        change(*args)
    except (ValueError, OSError):  # a name the C library would not have set either
        return 0
    return 1


def guard(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """The WSGI app behind uWSGI, with the environment kept and magic variables refused.

    The routes (ROUTES) refuse a magic variable before the app; this refuses it again
    for a uWSGI started without them.
    """
    try:
        environ_guard: EnvironGuard | None = EnvironGuard()
    except (AttributeError, OSError, ValueError):  # no C `environ` to read (not glibc)
        log.warning("uWSGI worker environment guard unavailable on this platform")
        environ_guard = None
    if environ_guard is not None:
        try:
            import uwsgi  # only importable inside uWSGI
        except ImportError:
            pass
        else:
            uwsgi.after_req_hook = environ_guard.check  # read once the app is loaded

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ_guard is not None:
            environ_guard.check()
        if not MAGIC_VARS.isdisjoint(environ):
            start_response("403 Forbidden", [("Content-Type", "text/plain"),
                                             ("Content-Length", "0")])
            return [b""]
        return app(environ, start_response)

    return guarded
