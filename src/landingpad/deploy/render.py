"""Render the nginx and uWSGI configuration for an install, from the sites file.

Files (all in the deploy dir):
  nginx.conf              a complete main config (demo, tests, or nginx -c)
  landingpad.conf         the http-level part to include from a system nginx
  landingpad-app.conf     the locations every server block shares
  landingpad-params.conf  the request's params, the per-domain LANDING_* ones, uwsgi_pass
  landingpad-maps.conf    host -> site, and the per-site values, as maps
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
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from landingpad import logs
from landingpad.deploy.uwsgi import STATIC_DIR, default_processes, ini_lines, own_dir_command
from landingpad.files import PASSAGE_DIR, SHARED_DIR, make_data_dir, make_dir, write_atomic
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
FILE_ONLY = frozenset({"LANDING_LOGO"})

NGINX_FILES = ("nginx.conf", "landingpad.conf", "landingpad-app.conf", "landingpad-params.conf",
               "landingpad-maps.conf")

_env = Environment(loader=PackageLoader("landingpad.deploy", "templates"), autoescape=False,  # noqa: S701 - nginx syntax, not HTML; values are encoded
                   undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
                   lstrip_blocks=True)


@dataclass
class DeployOptions:
    deploy_dir: str
    data_dir: str
    listen: str = "80"
    https_listen: str = "443"
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


def _map_sizes(config: SitesConfig) -> tuple[int, int]:
    """map_hash_max_size / bucket_size big enough that nginx needs no tuning by hand."""
    entries = max(len(config.hosts), 1)
    max_size = 1024
    while max_size < entries * 2:
        max_size *= 2
    longest = max((len(h) for h in config.hosts), default=0)
    bucket = 64
    while bucket < longest + 32:
        bucket *= 2
    return max_size, bucket


# Words a map block reads as its own parameters, not as a key: a site called
# "default" would otherwise set every other host's value (nginx docs: "If a source
# value matches one of the names of special parameters, it should be prefixed
# with the \ symbol"; nginx strips that one backslash from a key).
MAP_PARAMETERS = frozenset({"default", "hostnames", "include", "volatile"})


def map_key(host: str) -> str:
    """A host as a map key: only a normalised host name, escaped if nginx would read it
    as a parameter. Anything else is refused rather than written into nginx's config."""
    try:
        valid = normalize_host(host) == host
    except InvalidHost:
        valid = False
    if not valid:
        raise ValueError(f"{host!r} is not a normalised host name: not written to a map")
    return f"\\{host}" if host in MAP_PARAMETERS else host


def render_maps(config: SitesConfig) -> str:
    hosts = [(map_key(host), domain) for host, domain in sorted(config.hosts.items())]
    value_maps = []
    for f in SITE_FIELDS:
        if f.key == "LANDING_DOMAIN":
            continue
        values = [(map_key(domain), params.encode(values[f.key]))
                  for domain, values in sorted(config.sites.items()) if f.key in values]
        if values:
            value_maps.append((f.key, f.key.lower(), values))
    max_size, bucket = _map_sizes(config)
    return _env.get_template("landingpad-maps.conf.j2").render(
        hosts=hosts, value_maps=value_maps, hash_max_size=max_size, hash_bucket_size=bucket)


def render_all(options: DeployOptions, config: SitesConfig) -> dict[str, str]:
    """Every generated file's name and text."""
    deploy_dir = Path(options.deploy_dir)
    # A param per key that some site sets in the file; nginx passes "" (unset) for the rest.
    keys = ["LANDING_DOMAIN"] + [k for k in FIELDS_BY_KEY if k != "LANDING_DOMAIN" and any(
        k in values for values in config.sites.values()) and k not in FILE_ONLY]
    tls_sites = [
        {"domain": domain, "names": [domain, *config.aliases.get(domain, ())],
         "certificate": cert, "key": key}
        for domain, (cert, key) in sorted(config.tls.items())
    ]
    context = {
        "deploy_dir": deploy_dir,
        "www_root": deploy_dir / "www",
        "acme_root": deploy_dir / "acme",
        "listen": options.listen,
        "https_listen": options.https_listen,
        "upstreams": options.upstreams,
        "cache_seconds": options.cache_seconds,
        "signup_rate": options.signup_rate,
        "signup_burst": options.signup_burst,
        "client_max_body_size": options.client_max_body_size,
        "param_vars": [(k, k.lower()) for k in keys],
        "tls_sites": tls_sites,
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
             for name in NGINX_FILES if name != "landingpad-maps.conf"}
    files["landingpad-maps.conf"] = render_maps(config)
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
    assets = make_dir(Path(options.data_dir) / "assets", SHARED_DIR)
    for name, target in (("static", STATIC_DIR), ("assets", assets)):
        link = deploy_dir / "www" / name
        if link.is_symlink() and Path(os.readlink(link)) != target:
            link.unlink()
        if not link.is_symlink():
            link.symlink_to(target, target_is_directory=True)
