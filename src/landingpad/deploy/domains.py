"""Add and remove domains: the sites file and the nginx maps change together or not at all.

Each change runs under a lock: write the new nginx files, `nginx -t`, write the
sites file, reload nginx. If the test or the reload fails, every file is put
back byte for byte and nginx's message is raised. `refresh` runs the same steps
with the sites file as it is: after a certificate first appears in (or leaves)
DATA_DIR/tls/live, which changes the certificate and redirect maps.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from landingpad.deploy.nginx import Nginx, NginxError, find_nginx
from landingpad.deploy.render import (
    DeployOptions,
    ensure_ticket_keys,
    render_all,
    rotate_ticket_keys,
)
from landingpad.files import exclusive_lock, restore, write_atomic
from landingpad.sites.edit import EditError
from landingpad.sites.sitesfile import SitesConfig, SitesFileError, parse_sites


class DomainError(RuntimeError):
    """The change was refused or rolled back; nothing changed."""


@dataclass
class Outcome:
    config: SitesConfig
    messages: list[str] = field(default_factory=list)


@dataclass
class DomainManager:
    sites_path: Path
    data_dir: Path
    deploy_dir: Path
    nginx_binary: str
    nginx_conf: Path

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DomainManager:
        return cls(sites_path=Path(config["SITES"]), data_dir=Path(config["DATA_DIR"]),
                   deploy_dir=Path(config["DEPLOY_DIR"]),
                   nginx_binary=find_nginx(config["NGINX"]) or "",
                   nginx_conf=Path(config["NGINX_CONF"]))

    def apply(self, edit: Callable[[str], str]) -> Outcome:
        """Apply ``edit`` to the sites file text, then make nginx follow, or roll back."""
        try:
            return self._apply(edit)
        except OSError as exc:
            # Before anything was written (the lock file, reading the sites file), or a
            # rollback that could not finish: say so in one line, not a traceback.
            raise DomainError(f"nothing changed: {exc}") from None

    def rotate_ticket_keys(self) -> list[str]:
        """A new TLS session ticket key when the current one is old (render.rotate_ticket_keys),
        then a reload so nginx encrypts with it. Nothing when HTTPS is off."""
        try:
            options = DeployOptions.load(self.deploy_dir)
        except ValueError as exc:
            raise DomainError(f"nothing changed: {exc}") from None
        if options is None or not options.https_listen:
            return []
        if not rotate_ticket_keys(self.deploy_dir):
            return []
        if not self.nginx_binary:
            return ["session ticket keys rotated (nginx not found: not reloaded)"]
        try:
            reloaded = Nginx(self.nginx_binary, self.nginx_conf).reload()
        except NginxError as exc:
            raise DomainError(f"session ticket keys rotated, nginx not reloaded: {exc}") \
                from None
        return ["session ticket keys rotated" + ("; nginx reloaded" if reloaded else "")]

    def refresh(self) -> Outcome:
        """Re-render nginx from the sites file as it is and the live certificates; nginx -t,
        reload if anything changed, roll back byte for byte on failure (as apply)."""
        return self.apply(lambda text: text)

    def _apply(self, edit: Callable[[str], str]) -> Outcome:
        with exclusive_lock(self.data_dir / ".domains.lock"):
            old_bytes = self.sites_path.read_bytes() if self.sites_path.exists() else None
            try:
                old_text = old_bytes.decode("utf-8") if old_bytes else ""
                new_text = edit(old_text)
                config = parse_sites(new_text, self.sites_path)
            except (EditError, SitesFileError, UnicodeDecodeError) as exc:
                raise DomainError(str(exc)) from None
            _check_new_certificate_paths(config, old_text, self.sites_path)

            outcome = Outcome(config)
            try:
                options = DeployOptions.load(self.deploy_dir)
            except ValueError as exc:  # deploy.json no longer passes a check
                raise DomainError(f"nothing changed: {exc}") from None
            nginx = Nginx(self.nginx_binary, self.nginx_conf) if self.nginx_binary else None
            backups: dict[Path, bytes | None] = {}
            try:
                if options is not None:
                    if options.https_listen:
                        ensure_ticket_keys(self.deploy_dir)  # deploy.json of an older release
                    for name, text in render_all(options, config).items():
                        path = self.deploy_dir / name
                        before = path.read_bytes() if path.exists() else None
                        if before != text.encode():
                            backups[path] = before
                            write_atomic(path, text.encode())
                    # Nothing nginx reads changed (e.g. a logo): no test, no reload.
                    if backups and nginx is not None:
                        nginx.test()
                    elif backups:
                        outcome.messages.append("nginx not found: configs written but not tested")
                changed_nginx = bool(backups)
                if new_text != old_text:  # a refresh leaves the sites file alone
                    backups[self.sites_path] = old_bytes
                    write_atomic(self.sites_path, new_text.encode())
                if options is None:
                    outcome.messages.append(
                        "no rendered nginx config (landingpad deploy render): "
                        "the app picks the change up from the sites file")
                elif nginx is not None and changed_nginx:
                    if nginx.reload():
                        outcome.messages.append("nginx reloaded")
                    else:
                        outcome.messages.append(
                            "nginx is not running: the new config applies when it starts")
            except (NginxError, OSError, ValueError) as exc:
                for path, before in backups.items():
                    restore(path, before)
                raise DomainError(f"rolled back, nothing changed: {exc}") from None
            return outcome


def _check_new_certificate_paths(config: SitesConfig, old_text: str, sites_path: Path) -> None:
    """The owner's certificate and key paths that this change adds must exist.

    nginx reads them only at a handshake (they are map values, not static paths), so
    `nginx -t` no longer catches a typo. A path this user may not look into (a folder
    only nginx's user reads) is taken on trust; paths already in the file are not
    checked again, so a refresh never fails on a certificate the owner moved.
    """
    if not config.tls:
        return  # the usual case: no owner's certificates, and no second parse of the file
    try:
        old = parse_sites(old_text, sites_path).tls if old_text else {}
    except SitesFileError:
        old = {}
    for domain, pair in sorted(config.tls.items()):
        if old.get(domain) == pair:
            continue
        for what, path in zip(("certificate", "key"), pair, strict=True):
            try:
                os.stat(path)
            except (FileNotFoundError, NotADirectoryError):
                raise DomainError(f"nothing changed: {domain}'s TLS {what} {path} "
                                  "does not exist") from None
            except OSError:
                continue
