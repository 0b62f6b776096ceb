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
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from landingpad import logs
from landingpad.deploy.uwsgi import STATIC_DIR, default_processes, ini_lines
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
    admin_listen: str = ""  # default: the same as listen (e.g. 127.0.0.1:8443 to keep it local)
    assets_upstream: str = ""  # S3: the bucket URL nginx proxies /assets/ to ("" = local folder)

    def __post_init__(self) -> None:
        if not self.socket:
            self.socket = str(Path(self.deploy_dir) / "uwsgi.sock")
            if len(self.socket) > 100:  # unix socket paths are limited to 107 bytes
                digest = hashlib.sha256(self.deploy_dir.encode()).hexdigest()[:12]
                self.socket = f"/tmp/landingpad-{digest}.sock"  # noqa: S108 - 0660, named per install
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

    def save(self) -> None:
        path = Path(self.deploy_dir) / OPTIONS_FILE
        write_atomic(path, (json.dumps(asdict(self), indent=2) + "\n").encode())

    @classmethod
    def load(cls, deploy_dir: Path) -> DeployOptions | None:
        path = deploy_dir / OPTIONS_FILE
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))


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
    files["uwsgi.ini"] = _env.get_template("uwsgi.ini.j2").render(
        deploy_dir=deploy_dir, socket=options.socket, app_lines=ini_lines(options.processes),
        env=env)
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
