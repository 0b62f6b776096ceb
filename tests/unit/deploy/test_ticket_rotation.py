"""The worker's pass rotates nginx's session ticket keys through DomainManager."""

import os
import time

from landingpad.deploy.domains import DomainManager
from landingpad.deploy.render import DeployOptions, prepare_dirs, ticket_key_paths


def manager(data_dir, https_listen):
    deploy = data_dir / "deploy"
    options = DeployOptions(deploy_dir=str(deploy), data_dir=str(data_dir),
                            listen="127.0.0.1:8", https_listen=https_listen)
    prepare_dirs(options)
    options.save()
    return DomainManager(sites_path=data_dir / "sites.toml", data_dir=data_dir,
                         deploy_dir=deploy, nginx_binary="", nginx_conf=deploy / "nginx.conf")


def test_an_old_ticket_key_is_replaced_and_the_previous_kept(data_dir):
    domains = manager(data_dir, "127.0.0.1:9")
    current, previous, _older = ticket_key_paths(domains.deploy_dir)
    assert domains.rotate_ticket_keys() == []  # fresh keys: nothing to do
    old = current.read_bytes()
    aged = time.time() - 13 * 3600
    os.utime(current, (aged, aged))
    messages = domains.rotate_ticket_keys()
    assert messages and "rotated" in messages[0]
    assert current.read_bytes() != old and previous.read_bytes() == old
    assert oct(current.stat().st_mode & 0o777) == "0o600"
    assert domains.rotate_ticket_keys() == []


def test_nothing_rotates_when_https_is_off(data_dir):
    domains = manager(data_dir, "")
    assert domains.rotate_ticket_keys() == []
