"""What `deploy render` writes can't be bent by a name or an option, and is readable only
by whom it must be (issue 16, items 12 and 14)."""

import os
from pathlib import Path

import pytest

from landingpad.deploy.render import DeployOptions, render_all, render_maps
from landingpad.sites.sitesfile import parse_sites


@pytest.fixture
def config():
    return parse_sites('[sites."coffee.example"]\nLANDING_TITLE = "Coffee Club"\n'
                       'aliases = ["www.coffee.example"]\n', Path("sites.toml"))


@pytest.mark.parametrize("bad", [
    {"listen": "80; include /etc/passwd"},
    {"listen": "80 default_server; server { listen 81"},
    {"https_listen": "443 ssl;"},
    {"admin_listen": "127.0.0.1:8443\n"},
    {"admin_host": "admin.example; include /etc/passwd"},
    {"admin_host": "admin example"},
    {"admin_host": "$host"},
])
def test_listen_addresses_and_the_admin_host_cannot_inject_config(bad):
    with pytest.raises(ValueError, match=r"is not a listen address|admin host"):
        DeployOptions(deploy_dir="/d", data_dir="/", **bad)


# -- map keys (issue 16, item 14) --------------------------------------------------------

def test_a_domain_spelled_like_a_map_parameter_is_escaped_as_nginx_asks():
    config = parse_sites("".join(f'[sites."{name}"]\nLANDING_TITLE = "{name.title()}"\n'
                                 for name in ("default", "include", "hostnames", "volatile",
                                              "coffee.example")), Path("sites.toml"))
    maps = render_maps(config)
    assert maps.count('    default "";') == 3  # the real default of each map, no other
    for name in ("default", "include", "hostnames", "volatile"):
        assert f'    \\{name} "{name}|";' in maps  # host -> site (and no www. twin)
        assert f'    \\{name} "{name.title()}";' in maps  # site -> title
    assert '    coffee.example "coffee.example|";' in maps


@pytest.mark.parametrize("host", ["a b.example", "a;b.example", "a{b", 'a"b', "$host", "a\\b",
                                  "*.example", ".example", "~regex", "Coffee.Example",
                                  "example.", "a..b"])
def test_only_normalised_host_names_become_map_keys(host):
    from landingpad.deploy.render import map_key

    with pytest.raises(ValueError, match="not a normalised host name"):
        map_key(host)


def test_admin_host_is_written_in_its_normal_form():
    options = DeployOptions(deploy_dir="/d", data_dir="/", admin_host="Admin.Example.",
                            admin_listen="127.0.0.1:8081")
    assert options.admin_host == "admin.example"


# -- modes of what deploy writes (issue 16, item 12) ---------------------------------------

@pytest.fixture(params=[0o000, 0o022], ids=["umask000", "umask022"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path) -> int:
    return os.stat(path).st_mode & 0o777


def test_rendered_files_and_folders_are_for_nginx_group_only(tmp_path, config, umask):
    from landingpad.deploy.render import prepare_dirs
    from landingpad.files import exclusive_lock, write_atomic

    data = tmp_path / "fresh-data"
    options = DeployOptions(deploy_dir=str(data / "deploy"), data_dir=str(data), listen="80")
    for name, text in render_all(options, config).items():
        write_atomic(data / "deploy" / name, text.encode())
    prepare_dirs(options)
    options.save()
    with exclusive_lock(data / ".domains.lock"):
        pass
    assert mode(data) == 0o710  # nginx's group passes through to assets/ and deploy/
    assert mode(data / ".domains.lock") == 0o600
    deploy = data / "deploy"
    assert {p.name: mode(p) for p in deploy.iterdir() if p.is_dir()} == {
        name: 0o750 for name in ("logs", "cache", "cache-assets", "acme", "www", "tmp")}
    assert mode(deploy) == 0o710 and mode(data / "assets") == 0o750
    assert {mode(p) for p in deploy.iterdir() if p.is_file()} == {0o640}


def test_a_rewritten_file_keeps_the_mode_its_owner_chose(tmp_path, umask):
    from landingpad.files import write_atomic

    path = tmp_path / "landingpad.conf"
    write_atomic(path, b"one")
    os.chmod(path, 0o644)
    write_atomic(path, b"two")
    assert mode(path) == 0o644 and path.read_bytes() == b"two"
