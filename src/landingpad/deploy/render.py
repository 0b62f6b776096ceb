"""Render the nginx and uWSGI configuration for an install, from the sites file.

Files (all in the deploy dir):
  nginx.conf              a complete main config (demo, tests, or nginx -c)
  landingpad.conf         the http-level part to include from a system nginx
  landingpad-app.conf     the locations every server block shares
  landingpad-params.conf  the request's params, the per-domain LANDING_* ones, uwsgi_pass
  landingpad-maps.conf    host -> site, and the per-site values, as maps
  landingpad-tls.conf     HTTPS: name -> certificate maps, the HTTP -> HTTPS redirect map
  tls-tickets/            the session ticket keys (private; nginx's master reads them)
  uwsgi.ini               the app server
The options a render used are kept in deploy.json, so `domain add` re-renders
the same way.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from landingpad import logs
from landingpad.deploy.uwsgi import STATIC_DIR, default_processes, ini_lines, own_dir_command
from landingpad.files import (
    PASSAGE_DIR,
    PRIVATE_DIR,
    PRIVATE_FILE,
    SHARED_DIR,
    exclusive_lock,
    make_data_dir,
    make_dir,
    write_atomic,
)
from landingpad.sites import params
from landingpad.sites.host import InvalidHost, normalize_host
from landingpad.sites.site import FIELDS_BY_KEY, SITE_FIELDS
from landingpad.sites.sitesfile import SitesConfig

OPTIONS_FILE = "deploy.json"
# What may go into nginx's `server` line and uWSGI's `socket`: nothing that ends a directive.
_HOST_PORT = r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}"
UPSTREAM = re.compile(rf"unix:/[A-Za-z0-9._/@+-]+|{_HOST_PORT}")
SOCKET = re.compile(rf"/[A-Za-z0-9._/@+-]+|{_HOST_PORT}")
LISTEN = re.compile(rf"[0-9]{{1,5}}|{_HOST_PORT}|\*:[0-9]{{1,5}}")
CONFIG_PATH = re.compile(r"/[A-Za-z0-9._/@+-]{1,500}")  # a certificate or key in nginx's config
# A unix socket's path is limited to 107 bytes. A longer one goes into a folder of its
# own in /tmp, which uWSGI makes (or checks) before it binds (files.make_own_dir).
SOCKET_PATH_MAX = 100
SHORT_SOCKET_DIR = "/tmp/landingpad-"  # noqa: S108 - + a digest of the deploy dir; checked
SHARED_FOLDERS = frozenset({"/tmp", "/var/tmp", "/dev/shm", "/run/lock"})  # noqa: S108
DEFAULT_ADMIN_LISTEN = "127.0.0.1:8081"  # what `deploy render` gives the admin area
# Settings the app reads from the sites file only, never from nginx: an upload in
# the admin area sets the logo, and the app's user can't (and shouldn't) reload nginx.
# Only mails and the app's own reads use these, and they can be long: they are not sent
# with every request (uWSGI's request variables fit in 4 KB): the welcome mail's text,
# the owner's texts (LANDING_TEXT).
FILE_ONLY = frozenset({"LANDING_LOGO", "LANDING_WELCOME", "LANDING_WELCOME_SUBJECT",
                       "LANDING_TEXT"})

NGINX_FILES = ("nginx.conf", "landingpad.conf", "landingpad-app.conf", "landingpad-params.conf",
               "landingpad-maps.conf", "landingpad-tls.conf")

# Certificates the tls package keeps: DATA_DIR/tls/live/<host>.pem, the chain then the key
# in one file (so no handshake pairs a new certificate with an old key), replaced in place.
LIVE_DIR = ("tls", "live")
# What a name without a certificate gets: a path that never exists, so its handshake
# fails cleanly (TLS alert 80, nothing served) and nginx goes on serving every other name.
NO_CERTIFICATE = "no-certificate-for-this-name.pem"
# Session ticket keys (80 bytes each: AES-256 tickets). The first encrypts new tickets,
# the others still decrypt tickets issued before the last rotations.
TICKETS_DIR = "tls-tickets"
TICKET_KEYS = ("current.key", "previous.key", "older.key")
TICKET_KEY_BYTES = 80
TICKET_KEY_MAX_AGE = 12 * 3600.0

_env = Environment(loader=PackageLoader("landingpad.deploy", "templates"), autoescape=False,  # noqa: S701 - nginx syntax, not HTML; values are encoded
                   undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
                   lstrip_blocks=True)


@dataclass
class DeployOptions:
    deploy_dir: str
    data_dir: str
    listen: str = "80"
    # "" = no HTTPS listener at all (the default here, so tests and the demo never bind
    # 443 unless asked); `deploy render --https-listen` gives 443.
    https_listen: str = ""
    upstreams: list[str] = field(default_factory=list)  # default: the uWSGI socket below
    socket: str = ""
    processes: int = field(default_factory=default_processes)
    cache_seconds: int = 1
    signup_rate: str = "20r/m"
    signup_burst: int = 10
    client_max_body_size: str = "16k"
    sites_file: str = ""
    admin_host: str = ""   # LANDINGPAD_ADMIN_HOST: gets its own server block, never cached
    # "" = the same as listen (the demo and tests, on loopback); `deploy render` gives
    # DEFAULT_ADMIN_LISTEN. Not on loopback, it needs TLS or admin_insecure_http.
    admin_listen: str = ""
    assets_upstream: str = ""  # S3: the bucket URL nginx proxies /assets/ to ("" = local folder)
    # The operator's word that a TCP socket beyond loopback is on a private network that
    # only nginx's machine reaches: whoever reaches it can run code as the app's user.
    socket_on_private_network: bool = False
    admin_tls_certificate: str = ""  # with the key: the admin server block is TLS only
    admin_tls_key: str = ""
    admin_insecure_http: bool = False  # the operator's word: plain HTTP admin beyond loopback

    def __post_init__(self) -> None:
        if not self.socket:
            self.socket = short_socket_path(Path(self.deploy_dir), "uwsgi.sock")
        self.upstreams = self.upstreams or [
            f"unix:{self.socket}" if self.socket.startswith("/") else self.socket]
        for upstream in self.upstreams:
            if not UPSTREAM.fullmatch(upstream):
                raise ValueError(f"{upstream!r} is not an upstream: use unix:/path/to.sock "
                                 "or host:port")
        if not re.fullmatch(r"[1-9][0-9]{0,6}r/[sm]", self.signup_rate):
            raise ValueError(f"{self.signup_rate!r} is not an nginx rate: use e.g. 20r/m or 5r/s")
        if not SOCKET.fullmatch(self.socket):
            raise ValueError(f"{self.socket!r} is not a socket: use /path/to.sock or host:port")
        if self.socket.startswith("/") and str(Path(self.socket).parent) in SHARED_FOLDERS:
            raise ValueError(
                f"{self.socket}: a socket right in {Path(self.socket).parent}, where every "
                "local user may create files, can be bound by another user while uWSGI is "
                "down: give it a folder of its own (the default socket has one)")
        if not self.socket.startswith("/") and not is_loopback(self.socket) \
                and not self.socket_on_private_network:
            raise ValueError(
                f"uWSGI would listen on {self.socket}, beyond this machine's loopback. The "
                "uwsgi protocol has no authentication: anyone who can reach that port can "
                "run code as the app's user and open the admin door. Bind it to an address "
                "that only nginx's machine can reach (a private network, firewalled) and "
                "say so with --socket-on-private-network")
        # Written into `listen` and `server_name`: nothing that could end the directive.
        for name in ("listen", "https_listen", "admin_listen"):
            value = getattr(self, name)
            if value and not LISTEN.fullmatch(value):
                raise ValueError(f"{value!r} is not a listen address: use a port, "
                                 "host:port or [ipv6]:port")
        if self.https_listen and same_socket(self.https_listen, self.listen):
            raise ValueError(f"HTTPS needs a listen address of its own (--https-listen "
                             f"{self.https_listen}), not the plain HTTP one ({self.listen})")
        if self.https_listen and self.admin_listen and not self.admin_tls_certificate \
                and same_socket(self.https_listen, self.admin_listen):
            raise ValueError(f"the plain HTTP admin listener ({self.admin_listen}) can't share "
                             f"HTTPS's ({self.https_listen}): give it TLS or another address")
        if self.admin_host:
            try:
                self.admin_host = normalize_host(self.admin_host)
            except InvalidHost as exc:
                raise ValueError(f"admin host {self.admin_host!r}: {exc}") from None
        self._check_admin_listener()

    @property
    def admin_tls(self) -> bool:
        return bool(self.admin_tls_certificate or self.admin_tls_key)

    def _check_admin_listener(self) -> None:
        """No admin log-in in plain HTTP beyond loopback, unless the operator says so."""
        if bool(self.admin_tls_certificate) != bool(self.admin_tls_key):
            raise ValueError("admin TLS needs both a certificate and its key "
                             "(--admin-tls-cert and --admin-tls-key)")
        if self.admin_tls and not self.admin_host:
            raise ValueError("admin TLS, but no admin area: set LANDINGPAD_ADMIN_HOST")
        if self.admin_tls:
            for what, path in (("certificate", self.admin_tls_certificate),
                               ("key", self.admin_tls_key)):
                if not CONFIG_PATH.fullmatch(path):
                    raise ValueError(f"the admin TLS {what} {path!r} is not an absolute path "
                                     "of letters, digits and ._/@+-")
        if not self.admin_host:
            return
        listen = self.admin_listen or self.listen
        if self.admin_tls and same_socket(listen, self.listen):
            raise ValueError(f"the admin area over TLS needs a listen address of its own "
                             f"(--admin-listen), not the plain HTTP one ({self.listen})")
        if not self.admin_tls and not self.admin_insecure_http and not is_loopback(listen):
            raise ValueError(
                f"the admin area would be served in plain HTTP on {listen}, which is not a "
                "loopback address: its password and session cookie would cross the network "
                "in clear text. Give it TLS (--admin-tls-cert and --admin-tls-key), keep it "
                f"on loopback (--admin-listen {DEFAULT_ADMIN_LISTEN}, reached through an SSH "
                "tunnel), or accept plain HTTP with --admin-insecure-http")

    def save(self) -> None:
        path = Path(self.deploy_dir) / OPTIONS_FILE
        write_atomic(path, (json.dumps(asdict(self), indent=2) + "\n").encode())

    @classmethod
    def load(cls, deploy_dir: Path) -> DeployOptions | None:
        path = deploy_dir / OPTIONS_FILE
        if not path.exists():
            return None
        try:
            return cls(**json.loads(path.read_text()))
        except ValueError as exc:  # saved by an older release, before a check existed
            raise ValueError(f"{path}: {exc} (run `landingpad deploy render` again)") from None


def short_socket_path(folder: Path, name: str) -> str:
    """``folder/name``, or, when that is too long for a unix socket, ``name`` in a folder
    of /tmp named after ``folder`` that uWSGI makes its own before binding."""
    path = str(folder / name)
    if len(path) <= SOCKET_PATH_MAX:
        return path
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    return f"{SHORT_SOCKET_DIR}{digest}/{name}"


def _host_port(address: str) -> tuple[str, str]:
    """("127.0.0.1", "80") from a listen or socket address; a bare port is every address."""
    host, sep, port = address.rpartition(":")
    return (host.strip("[]") if sep else "*"), port


def is_loopback(address: str) -> bool:
    """Whether a host:port (or a bare port: every address) stays on this machine."""
    host = _host_port(address)[0]
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False  # "*", or a name: it may resolve to anything
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def same_socket(first: str, second: str) -> bool:
    """Whether two listen addresses would share nginx's listening socket (or overlap)."""
    (host_a, port_a), (host_b, port_b) = _host_port(first), _host_port(second)
    wildcard = {"*", "0.0.0.0", "::"}  # noqa: S104 - compared, not bound
    return port_a == port_b and (host_a == host_b or bool({host_a, host_b} & wildcard))


def _find(*candidates: str) -> str:
    for candidate in candidates:
        if Path(candidate).exists():
            return candidate
    return candidates[0]


def _map_sizes(config: SitesConfig, extra_hosts: Iterable[str] = ()) -> tuple[int, int]:
    """map_hash_max_size / bucket_size big enough that nginx needs no tuning by hand."""
    hosts = set(config.hosts) | set(extra_hosts)
    entries = max(len(hosts), 1)
    max_size = 1024
    while max_size < entries * 2:
        max_size *= 2
    longest = max((len(h) for h in hosts), default=0)
    # 128 at least: nginx tries up to 1,000 table sizes until no bucket overflows, and
    # with 64 (one or two names a bucket) 10,000 names took many tries (~5 % of nginx -t).
    bucket = 128
    while bucket < longest + 32:
        bucket *= 2
    return max_size, bucket


WWW = "www."


def site_entries(hosts: Mapping[str, str]) -> list[tuple[str, str]]:
    """The host map's entries: a host and its www. twin share one entry.

    Keyed by the host without a leading "www." (nginx strips it before the look-up, and
    says whether it did). The value is the site both spellings serve, or "BARE|WWW" when
    they differ or only one is configured ("" for the one that is not): every host is
    served exactly as when each had a line of its own. Half the lines of nginx -t's
    biggest map on the usual install (domain + its www. alias).
    """
    pairs: dict[str, list[str]] = {}
    for host, domain in hosts.items():
        www = host.startswith(WWW) and len(host) > len(WWW)
        pair = pairs.setdefault(host[len(WWW):] if www else host, ["", ""])
        pair[www] = domain
    return [(map_key(key), bare if bare == www else f"{bare}|{www}")
            for key, (bare, www) in sorted(pairs.items())]


# Words a map block reads as its own parameters, not as a key: a site called
# "default" would otherwise set every other host's value (nginx docs: "If a source
# value matches one of the names of special parameters, it should be prefixed
# with the \ symbol"; nginx strips that one backslash from a key).
MAP_PARAMETERS = frozenset({"default", "hostnames", "include", "volatile"})


# A name normalize_host returns unchanged, for the common case (ASCII, no punycode):
# lower-case labels of letters, digits and inner hyphens, the last not all digits, at
# most 253 characters. One regex instead of normalize_host for 10,000 names per render.
_PLAIN_HOST = re.compile(r"(?=[a-z0-9.-]{1,253}\Z)(?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)*"
                         r"(?![0-9]+\Z)(?!-)[a-z0-9-]{1,63}(?<!-)\Z")


def is_normalised_host(host: str) -> bool:
    """Whether ``host`` is a host name exactly as normalize_host writes it."""
    if _PLAIN_HOST.match(host) and "xn--" not in host:
        return True
    try:
        return normalize_host(host) == host
    except InvalidHost:
        return False


def map_key(host: str) -> str:
    """A host as a map key: only a normalised host name, escaped if nginx would read it
    as a parameter. Anything else is refused rather than written into nginx's config."""
    valid = is_normalised_host(host)
    if not valid:
        raise ValueError(f"{host!r} is not a normalised host name: not written to a map")
    return f"\\{host}" if host in MAP_PARAMETERS else host


def render_maps(config: SitesConfig, extra_hosts: Iterable[str] = ()) -> str:
    hosts = site_entries(config.hosts)
    value_maps = []
    for f in SITE_FIELDS:
        if f.key == "LANDING_DOMAIN" or f.key in FILE_ONLY - {"LANDING_LOGO"}:
            continue
        values = [(map_key(domain), params.encode(values[f.key]))
                  for domain, values in sorted(config.sites.items()) if f.key in values]
        if values:
            value_maps.append((f.key, f.key.lower(), values))
    max_size, bucket = _map_sizes(config, extra_hosts)
    return _env.get_template("landingpad-maps.conf.j2").render(
        hosts=hosts, value_maps=value_maps, hash_max_size=max_size, hash_bucket_size=bucket)


# What a live certificate's file name must look like before normalize_host looks at it:
# one cheap regex pass over 10,000 names, so `domain add` stays fast.
_LIVE_NAME = re.compile(r"([a-z0-9][a-z0-9.-]{0,252})\.pem")


def live_certificates(data_dir: Path | str) -> dict[str, str]:
    """host -> its one-file certificate (chain + key) in DATA_DIR/tls/live.

    One directory listing, no stat per file. Names that are not normalised host names
    (the tls package's temp files, anything else) are ignored.
    """
    folder = Path(data_dir).joinpath(*LIVE_DIR)
    found: dict[str, str] = {}
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return found
    for name in names:
        match = _LIVE_NAME.fullmatch(name)
        if match is None:
            continue
        host = match.group(1)
        if is_normalised_host(host):
            found[host] = f"{folder}/{name}"
    return found


def tls_pairs(options: DeployOptions, config: SitesConfig) -> dict[str, tuple[str, str]]:
    """host -> (certificate path, key path) for every name served over HTTPS.

    The live certificates (one file for both), then the owner's own paths from the sites
    file for the domain and its aliases, which win: the owner said so explicitly.
    """
    live = live_certificates(options.data_dir)
    if live and not CONFIG_PATH.fullmatch(next(iter(live.values()))):
        # Written into a quoted nginx string: no "$", quote or space may slip in.
        raise ValueError(f"{options.data_dir}: the data dir's path must be absolute and "
                         "made of letters, digits and ._/@+- to serve its certificates")
    pairs = {host: (path, path) for host, path in live.items()}
    for domain, (cert, key) in config.tls.items():
        for host in (domain, *config.aliases.get(domain, ())):
            pairs[host] = (cert, key)
    return pairs


def https_port_suffix(https_listen: str) -> str:
    """":8443" for a redirect to a non-default HTTPS port, "" for 443."""
    port = _host_port(https_listen)[1]
    return "" if port == "443" else f":{port}"


def render_tls(options: DeployOptions, pairs: dict[str, tuple[str, str]]) -> str:
    """landingpad-tls.conf: the certificate maps and the redirect map (HTTPS on only)."""
    deploy_dir = Path(options.deploy_dir)
    ordered = sorted(pairs.items())
    return _env.get_template("landingpad-tls.conf.j2").render(
        https=bool(options.https_listen),
        no_certificate=deploy_dir / NO_CERTIFICATE,
        certificates=[(map_key(host), cert) for host, (cert, _) in ordered],
        # Only where the key is not the certificate's own file: the rest follow the cert.
        keys=[(map_key(host), key) for host, (cert, key) in ordered if key != cert])


def ticket_key_paths(deploy_dir: Path | str) -> list[Path]:
    """The ticket key files, the one that encrypts first."""
    folder = Path(deploy_dir) / TICKETS_DIR
    return [folder / name for name in TICKET_KEYS]


def _write_ticket_key(path: Path, data: bytes) -> None:
    write_atomic(path, data, mode=PRIVATE_FILE)


def ensure_ticket_keys(deploy_dir: Path | str) -> None:
    """Make the ticket keys that are missing (random; 0600 in a 0700 folder).

    Private: a ticket key decrypts every session it sealed. nginx's master reads them at
    start and reload (as root on a server), never its workers.
    """
    paths = ticket_key_paths(deploy_dir)
    make_dir(paths[0].parent, PRIVATE_DIR)
    for path in paths:
        if not path.exists():
            _write_ticket_key(path, secrets.token_bytes(TICKET_KEY_BYTES))


def rotate_ticket_keys(deploy_dir: Path | str, max_age: float = TICKET_KEY_MAX_AGE,
                       now: float | None = None) -> bool:
    """A new encrypting key when the current one is older than ``max_age`` seconds; the
    two before it keep decrypting (tickets stay resumable for two more periods).

    Returns whether it rotated: the caller then reloads nginx, which reads keys only at
    start and reload. Each file is replaced atomically, so a reload racing this sees
    every file whole (at worst one rotation step behind).
    """
    paths = ticket_key_paths(deploy_dir)
    make_dir(paths[0].parent, PRIVATE_DIR)
    with exclusive_lock(paths[0].parent / ".rotate.lock"):
        try:
            age = (time.time() if now is None else now) - paths[0].stat().st_mtime
        except FileNotFoundError:
            ensure_ticket_keys(deploy_dir)
            return True
        if age < max_age:
            return False
        ensure_ticket_keys(deploy_dir)  # a missing older key: made before it is shifted
        for newer, older in ((paths[1], paths[2]), (paths[0], paths[1])):
            _write_ticket_key(older, newer.read_bytes())
        _write_ticket_key(paths[0], secrets.token_bytes(TICKET_KEY_BYTES))
    return True


def render_all(options: DeployOptions, config: SitesConfig) -> dict[str, str]:
    """Every generated file's name and text."""
    deploy_dir = Path(options.deploy_dir)
    # A param per key that some site sets in the file, sent only for the hosts that set it.
    keys = ["LANDING_DOMAIN"] + [k for k in FIELDS_BY_KEY if k != "LANDING_DOMAIN" and any(
        k in values for values in config.sites.values()) and k not in FILE_ONLY]
    pairs = tls_pairs(options, config) if options.https_listen else {}
    context = {
        "deploy_dir": deploy_dir,
        "www_root": deploy_dir / "www",
        "acme_root": deploy_dir / "acme",
        "listen": options.listen,
        "https_listen": options.https_listen,
        "https_port_suffix": https_port_suffix(options.https_listen)
        if options.https_listen else "",
        "ticket_keys": ticket_key_paths(deploy_dir),
        "upstreams": options.upstreams,
        "cache_seconds": options.cache_seconds,
        "signup_rate": options.signup_rate,
        "signup_burst": options.signup_burst,
        "client_max_body_size": options.client_max_body_size,
        "param_vars": [(k, k.lower()) for k in keys],
        # Some site offers several languages: the micro-cache keys on the one chosen.
        "multilingual": "LANDING_LANGS" in config.defaults or any(
            "LANDING_LANGS" in values for values in config.sites.values()),
        "admin_host": options.admin_host,
        "admin_listen": options.admin_listen or options.listen,
        "admin_tls": {"certificate": options.admin_tls_certificate,
                      "key": options.admin_tls_key} if options.admin_tls else None,
        "assets_upstream": options.assets_upstream,
        "mime_types": _find("/etc/nginx/mime.types", "/usr/local/nginx/conf/mime.types"),
        # What logs may hold (landingpad.logs): no client address, no link token.
        "secret_path": logs.SECRET_PATH,
        "token_placeholder": logs.TOKEN_PLACEHOLDER,
        "address_placeholder": logs.ADDRESS_PLACEHOLDER,
        "client_var": logs.CLIENT_VAR,
        "run_as_root": os.geteuid() == 0,
        # Server-level, so a shared system nginx keeps its own log for other sites.
        "error_log": f"error_log {deploy_dir / 'logs' / 'error.log'} emerg;",
    }
    env = [("LANDINGPAD_DATA_DIR", options.data_dir)]
    if options.sites_file:
        env.append(("LANDINGPAD_SITES", options.sites_file))
    files = {name: _env.get_template(f"{name}.j2").render(**context)
             for name in NGINX_FILES
             if name not in ("landingpad-maps.conf", "landingpad-tls.conf")}
    files["landingpad-maps.conf"] = render_maps(config, pairs)
    files["landingpad-tls.conf"] = render_tls(options, pairs)
    socket_dir = Path(options.socket).parent if options.socket.startswith("/") else None
    files["uwsgi.ini"] = _env.get_template("uwsgi.ini.j2").render(
        deploy_dir=deploy_dir, socket=options.socket, app_lines=ini_lines(options.processes),
        env=env, own_dir_command=own_dir_command(str(socket_dir))
        if socket_dir is not None and socket_dir != deploy_dir else "")
    return files


def prepare_dirs(options: DeployOptions) -> None:
    """The folders nginx needs, and a web root that holds nothing but static files."""
    # The data dir and the deploy dir are 0710 (nginx's group passes through to the
    # socket and the web root, lists nothing); what nginx reads is 0750
    # (files.SHARED_DIR). nginx gives its cache and temp folders to its worker user.
    deploy_dir = Path(options.deploy_dir)
    make_data_dir(Path(options.data_dir))
    make_dir(deploy_dir, PASSAGE_DIR)
    for sub in ("logs", "cache", "cache-assets", "acme", "www", "tmp"):
        make_dir(deploy_dir / sub, SHARED_DIR)
    if options.https_listen:
        ensure_ticket_keys(deploy_dir)
    assets = make_dir(Path(options.data_dir) / "assets", SHARED_DIR)
    for name, target in (("static", STATIC_DIR), ("assets", assets)):
        link = deploy_dir / "www" / name
        if link.is_symlink() and Path(os.readlink(link)) != target:
            link.unlink()
        if not link.is_symlink():
            link.symlink_to(target, target_is_directory=True)


def nginx_upstream(config: Mapping[str, Any]) -> str:
    """The URL nginx proxies /assets/ to (S3), or "" when nginx serves the folder."""
    if config["ASSET_STORE"] != "s3":
        return ""
    if config["S3_ENDPOINT_URL"]:
        base = f"{config['S3_ENDPOINT_URL'].rstrip('/')}/{config['S3_BUCKET']}"
    else:
        base = f"https://{config['S3_BUCKET']}.s3.amazonaws.com"
    return f"{base}/{config['S3_PREFIX']}"
