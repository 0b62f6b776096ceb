"""systemd units for an install, written by `landingpad deploy render` into DEPLOY_DIR/systemd/.

  landingpad-uwsgi.service        the app: uwsgi --ini DEPLOY_DIR/uwsgi.ini
  landingpad-tls.service          the certificate worker: landingpad tls worker
  landingpad-purge.service/.timer landingpad purge, daily
  landingpad-announce@.service    landingpad announce send ID (systemctl start ...@ID)
  landingpad-bounces.service/.timer  landingpad bounces fetch, every 5 minutes (only when
                                  LANDINGPAD_BOUNCE_IMAP_URL is set)
  landingpad-webhooks.service     landingpad webhooks deliver (only with webhook endpoints)

The commands are the ones next to the running interpreter (a venv's bin folder), so
the units run the landingpad that rendered them. Every value put into a unit is
checked, then written in systemd's syntax (systemd.syntax(7), systemd.service(5)):
``%`` (a specifier) is doubled, ``$`` in a command's argument too, a value with a space is
quoted; a control character (a newline would start a new setting), a quote or a
backslash is refused rather than escaped.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import Environment, PackageLoader, StrictUndefined

if TYPE_CHECKING:
    from landingpad.deploy.render import DeployOptions

UNITS = ("landingpad-uwsgi.service", "landingpad-tls.service", "landingpad-purge.service",
         "landingpad-purge.timer", "landingpad-announce@.service")
BOUNCE_UNITS = ("landingpad-bounces.service", "landingpad-bounces.timer")
WEBHOOKS_UNIT = "landingpad-webhooks.service"  # rendered when webhook endpoints are configured
DEFAULT_USER = "landingpad"
DEFAULT_GROUP = "www-data"  # nginx's workers' group on Debian: they reach the socket
DEFAULT_ENVIRONMENT_FILE = "/etc/landingpad/landingpad.env"
# A user or group name that every tool agrees on (no dots, no "@", not all digits).
ACCOUNT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,31}")
# ProtectHome= hides these; a path of ours below one of them needs ProtectHome=read-only.
HOME_FOLDERS = ("/home", "/root", "/run/user")
# PrivateTmp= gives a unit its own, empty, /tmp and /var/tmp.
TMP_FOLDERS = ("/tmp", "/var/tmp")  # noqa: S108 - paths compared, not made
_REFUSED = re.compile(r"[\x00-\x1f\x7f\"'\\]")

_env = Environment(loader=PackageLoader("landingpad.deploy", "templates/systemd"),
                   autoescape=False,  # noqa: S701 - unit files, not HTML; values checked, escaped
                   undefined=StrictUndefined, keep_trailing_newline=True,
                   trim_blocks=True, lstrip_blocks=True)


def check_value(value: str, what: str) -> str:
    """``value`` if it can go into a unit file as one word, else ValueError."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} {value!r} is not valid UTF-8: not written to a systemd "
                         "unit") from None
    bad = _REFUSED.search(value)
    if bad:
        raise ValueError(f"{what} {value!r} holds {bad.group()!r}: a control character "
                         "(a newline would start a new setting), a quote or a backslash "
                         "is not written to a systemd unit")
    if not value or value != value.strip():
        raise ValueError(f"{what} {value!r}: empty, or with spaces at an end (systemd "
                         "strips them): not written to a systemd unit")
    return value


def check_path(value: str, what: str) -> str:
    """An absolute, normalised path (systemd refuses others in ReadWritePaths=)."""
    check_value(value, what)
    if not value.startswith("/") or value.startswith("//") or os.path.normpath(value) != value:
        raise ValueError(f"{what} {value!r} is not an absolute, normalised path")
    return value


def word(value: str, *, argument: bool = False) -> str:
    """A checked value as one word of a setting: % -> %% (specifiers), and in a command's
    argument $ -> $$ (variables; the program's own path is not expanded, so not there);
    quoted when it holds a space."""
    text = value.replace("%", "%%")
    if argument:
        text = text.replace("$", "$$")
    return f'"{text}"' if " " in text else text


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _outermost(paths: list[str]) -> list[str]:
    """The paths without those inside another one (kept in order, no duplicates)."""
    kept: list[str] = []
    for path in paths:
        if not any(_under(path, other) for other in kept):
            kept = [p for p in kept if not _under(p, path)] + [path]
    return kept


def render_units(options: DeployOptions, *, user: str = DEFAULT_USER,
                 group: str = DEFAULT_GROUP, bin_dir: Path | None = None,
                 environment_file: str = DEFAULT_ENVIRONMENT_FILE,
                 bounces: bool = False, webhooks: bool = False) -> dict[str, str]:
    """Every unit's file name and text.

    ``bounces``: also the bounce mailbox's timer and service (LANDINGPAD_BOUNCE_IMAP_URL
    is set). ``webhooks``: also the webhook deliverer (endpoints are configured).

    ``bin_dir``: where ``landingpad`` and ``uwsgi`` are (default: the running
    interpreter's folder, not resolved: a venv's bin, whose python is a symlink).
    """
    for what, name in (("user", user), ("group", group)):
        if not ACCOUNT.fullmatch(name):
            raise ValueError(f"{what} {name!r} is not a user or group name (letters, digits, "
                             "_ and -, up to 32, not starting with a digit or -)")
    folder = str(bin_dir if bin_dir is not None else Path(sys.executable).parent)
    data_dir = check_path(options.data_dir, "the data dir")
    deploy_dir = check_path(options.deploy_dir, "the deploy dir")
    sites_file = check_path(options.sites_file, "the sites file") if options.sites_file else ""
    programs = {name: check_path(f"{check_path(folder, 'the bin folder')}/{name}",
                                 f"the {name} program") for name in ("landingpad", "uwsgi")}
    check_path(environment_file, "the environment file")

    environment = [("LANDINGPAD_DATA_DIR", data_dir), ("LANDINGPAD_DEPLOY_DIR", deploy_dir)]
    if sites_file:
        environment.append(("LANDINGPAD_SITES", sites_file))
    # Where the units write: the data dir and the deploy dir (the socket, nginx's maps).
    writable = _outermost([data_dir, deploy_dir])
    socket = options.socket
    socket_in_tmp = socket.startswith("/tmp/")  # noqa: S108 - a path compared, not made
    uwsgi_writable = list(writable)
    if socket.startswith("/") and not socket_in_tmp:
        socket_dir = check_path(str(Path(socket).parent), "the socket's folder")
        uwsgi_writable = _outermost([*writable, socket_dir])
    elif socket_in_tmp:
        uwsgi_writable = _outermost([*writable, "/tmp"])  # noqa: S108
    used = [p for p in (folder, data_dir, deploy_dir, sites_file, environment_file) if p]
    in_home = any(_under(p, home) for p in [*used, socket] for home in HOME_FOLDERS)
    in_tmp = any(_under(p, tmp) for p in used for tmp in TMP_FOLDERS)
    context = {
        "user": user,
        "group": group,
        "landingpad": word(programs["landingpad"]),
        "uwsgi": word(programs["uwsgi"]),
        "ini": word(f"{deploy_dir}/uwsgi.ini", argument=True),
        "environment": [word(f"{name}={value}") for name, value in environment],
        # EnvironmentFile= takes its whole value as the path: no quotes.
        "environment_file": environment_file.replace("%", "%%"),
        "read_write_paths": " ".join(word(p) for p in writable),
        "uwsgi_read_write_paths": " ".join(word(p) for p in uwsgi_writable),
        "protect_home": "read-only" if in_home else "yes",
        "private_tmp": "no" if in_tmp else "yes",
        "uwsgi_private_tmp": "no" if in_tmp or socket_in_tmp else "yes",
        "socket_in_tmp": socket_in_tmp,
    }
    names = (*UNITS, *(BOUNCE_UNITS if bounces else ()),
             *((WEBHOOKS_UNIT,) if webhooks else ()))
    return {name: _env.get_template(f"{name}.j2").render(**context) for name in names}
