"""Who `deploy render` lets reach uWSGI's socket and the admin area.

A TCP uWSGI socket beyond loopback, or an admin listener in plain HTTP beyond
loopback, needs the operator's explicit word; otherwise a clear error and nothing is
written. The admin area can have TLS of its own. A unix socket too long for the
deploy dir goes into a folder of /tmp that uWSGI makes its own before binding.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from landingpad.deploy.nginx import Nginx, find_nginx
from landingpad.deploy.render import (
    DEFAULT_ADMIN_LISTEN,
    DeployOptions,
    is_loopback,
    prepare_dirs,
    render_all,
)
from landingpad.files import write_atomic
from landingpad.sites.sitesfile import parse_sites
from tests.servers import self_signed_cert

ADMIN = "admin.test"
NO_SITES = parse_sites("", Path("sites.toml"))


# -- the uWSGI socket -----------------------------------------------------------------------

@pytest.mark.parametrize("address", ["127.0.0.1:3031", "127.8.9.10:3031", "[::1]:3031",
                                     "localhost:3031", "[::ffff:127.0.0.1]:3031"])
def test_loopback_sockets_need_no_word(address):
    assert is_loopback(address)
    options = DeployOptions(deploy_dir="/d", data_dir="/", socket=address)
    assert f"socket = {address}\n" in render_all(options, NO_SITES)["uwsgi.ini"]


@pytest.mark.parametrize("address", ["10.0.0.5:3031", "0.0.0.0:3031", "[::]:3031",
                                     "192.168.1.2:3031", "app.internal:3031", "[fd00::5]:3031",
                                     "[::ffff:10.0.0.5]:3031", "203.0.113.9:3031"])
def test_a_socket_beyond_loopback_needs_the_operators_word(address):
    with pytest.raises(ValueError, match=r"no authentication.*--socket-on-private-network"):
        DeployOptions(deploy_dir="/d", data_dir="/", socket=address)
    options = DeployOptions(deploy_dir="/d", data_dir="/", socket=address,
                            socket_on_private_network=True)
    assert options.upstreams == [address]


def test_render_refuses_a_private_network_socket_without_the_flag(runner, data_dir):
    result = runner("deploy", "render", "--socket", "10.0.0.5:3031", "--no-check")
    assert result.exit_code == 2
    assert "anyone who can reach that port can run code" in result.output
    assert "--socket-on-private-network" in result.output
    assert not (data_dir / "deploy").exists()  # nothing written
    result = runner("deploy", "render", "--socket", "10.0.0.5:3031", "--no-check",
                    "--socket-on-private-network")
    assert result.exit_code == 0, result.output
    assert "socket = 10.0.0.5:3031\n" in (data_dir / "deploy" / "uwsgi.ini").read_text()
    help_text = " ".join(runner("deploy", "render", "--help").output.split())
    assert "anyone who can reach that port can run code as the app's user" in help_text


@pytest.mark.parametrize("path", ["/tmp/landingpad-0123456789ab.sock",  # earlier releases'
                                  "/tmp/uwsgi.sock", "/var/tmp/lp.sock", "/dev/shm/lp.sock"])
def test_a_socket_right_in_a_shared_folder_is_refused(path):
    with pytest.raises(ValueError, match="give it a folder of its own"):
        DeployOptions(deploy_dir="/d", data_dir="/", socket=path)


def test_a_long_deploy_dir_puts_the_socket_in_a_folder_uwsgi_makes_its_own():
    deploy_dir = "/srv/" + "x" * 120
    options = DeployOptions(deploy_dir=deploy_dir, data_dir="/")
    folder = Path(options.socket).parent
    assert len(options.socket) < 100 and options.socket.endswith("/uwsgi.sock")
    assert folder.parent == Path("/tmp") and folder.name.startswith("landingpad-")
    ini = render_all(options, NO_SITES)["uwsgi.ini"]
    exec_asap = [line for line in ini.splitlines() if line.startswith("exec-asap = ")]
    assert len(exec_asap) == 1 and exec_asap[0].endswith(f"/landingpad/files.py {folder}")
    assert " -I " in exec_asap[0]  # the script alone: no landingpad package, no Flask
    # A socket in the deploy dir, or on TCP, needs no such check.
    for short in (DeployOptions(deploy_dir="/d", data_dir="/"),
                  DeployOptions(deploy_dir="/d", data_dir="/", socket="127.0.0.1:3031")):
        assert "exec-asap" not in render_all(short, NO_SITES)["uwsgi.ini"]


# -- the admin listener -------------------------------------------------------------------

@pytest.mark.parametrize("listen", ["80", "8081", "*:8081", "0.0.0.0:8081", "[::]:8081",
                                    "10.0.0.1:8081", "admin.test:8081"])
def test_a_plain_http_admin_beyond_loopback_needs_tls_or_the_operators_word(listen):
    with pytest.raises(ValueError, match=r"plain HTTP on .*--admin-insecure-http"):
        DeployOptions(deploy_dir="/d", data_dir="/", admin_host=ADMIN, admin_listen=listen)
    text = render_all(DeployOptions(deploy_dir="/d", data_dir="/", admin_host=ADMIN,
                                    admin_listen=listen, admin_insecure_http=True),
                      NO_SITES)["landingpad.conf"]
    assert f"    listen {listen};\n    server_name {ADMIN};" in text
    tls = DeployOptions(deploy_dir="/d", data_dir="/", admin_host=ADMIN, admin_listen=listen
                        if listen != "80" else "443", admin_tls_certificate="/etc/ssl/a.pem",
                        admin_tls_key="/etc/ssl/a.key")
    assert tls.admin_tls


def test_the_admin_shares_a_loopback_listen_address(tmp_path):
    # The demo and the tests: one loopback listener, the admin chosen by name.
    options = DeployOptions(deploy_dir="/d", data_dir="/", listen="127.0.0.1:8080",
                            admin_host=ADMIN)
    assert "    listen 127.0.0.1:8080;\n    server_name admin.test;" in \
        render_all(options, NO_SITES)["landingpad.conf"]
    with pytest.raises(ValueError, match="plain HTTP on 80,"):
        DeployOptions(deploy_dir="/d", data_dir="/", listen="80", admin_host=ADMIN)


@pytest.mark.parametrize(("extra", "message"), [
    ({"admin_tls_certificate": "/etc/ssl/a.pem"}, "both a certificate and its key"),
    ({"admin_tls_key": "/etc/ssl/a.key"}, "both a certificate and its key"),
    ({"admin_tls_certificate": "/a.pem; include /etc/passwd", "admin_tls_key": "/a.key"},
     "not an absolute path"),
    ({"admin_tls_certificate": "a.pem", "admin_tls_key": "/a.key"}, "not an absolute path"),
    ({"admin_tls_certificate": "/a.pem", "admin_tls_key": "/a.key", "admin_listen": "",
      "listen": "80"}, "listen address of its own"),
    ({"admin_tls_certificate": "/a.pem", "admin_tls_key": "/a.key", "admin_listen": "80",
      "listen": "0.0.0.0:80"}, "listen address of its own"),
])
def test_admin_tls_options_are_checked(extra, message):
    with pytest.raises(ValueError, match=message):
        DeployOptions(**{"deploy_dir": "/d", "data_dir": "/", "admin_host": ADMIN,
                         "admin_listen": "127.0.0.1:8443", **extra})
    with pytest.raises(ValueError, match="no admin area"):
        DeployOptions(deploy_dir="/d", data_dir="/", admin_tls_certificate="/a.pem",
                      admin_tls_key="/a.key")


def test_the_admin_block_speaks_tls_only_with_the_sites_settings():
    options = DeployOptions(deploy_dir="/d", data_dir="/", admin_host=ADMIN,
                            admin_listen="0.0.0.0:8443", admin_tls_certificate="/etc/ssl/a.pem",
                            admin_tls_key="/etc/ssl/a.key")
    text = render_all(options, NO_SITES)["landingpad.conf"]
    block = text.split("server {\n    listen 0.0.0.0:8443 ssl http2;\n")[1].split("\n}\n")[0]
    assert block.startswith(f"    server_name {ADMIN};\n"
                            "    ssl_certificate /etc/ssl/a.pem;\n"
                            "    ssl_certificate_key /etc/ssl/a.key;\n"
                            "    ssl_protocols TLSv1.2 TLSv1.3;\n"
                            "    ssl_session_cache shared:landingpad_tls:10m;\n")
    assert "uwsgi_param LANDINGPAD_ENTRANCE admin;" in block
    assert "listen 0.0.0.0:8443;" not in text  # no plain HTTP on the admin listener


def test_whether_a_request_is_secure_is_nginxs_https_alone():
    params = render_all(DeployOptions(deploy_dir="/d", data_dir="/"),
                        NO_SITES)["landingpad-params.conf"]
    # Sent empty, before HTTPS: uWSGI reads wsgi.url_scheme from these client headers too.
    assert params.index('uwsgi_param HTTP_X_FORWARDED_PROTO "";') < \
        params.index("uwsgi_param HTTPS $https if_not_empty;")
    assert params.index('uwsgi_param HTTP_X_FORWARDED_SSL "";') < \
        params.index("uwsgi_param HTTPS $https if_not_empty;")


@pytest.mark.skipif(find_nginx() is None, reason="needs nginx")
def test_nginx_accepts_the_tls_admin_block(tmp_path):
    cert, key = self_signed_cert(tmp_path, ADMIN)
    data = tmp_path / "data"
    options = DeployOptions(deploy_dir=str(data / "deploy"), data_dir=str(data),
                            listen="127.0.0.1:1", admin_host=ADMIN, admin_listen="127.0.0.1:2",
                            admin_tls_certificate=cert, admin_tls_key=key)
    for name, text in render_all(options, NO_SITES).items():
        write_atomic(data / "deploy" / name, text.encode())
    prepare_dirs(options)
    Nginx(find_nginx(), data / "deploy" / "nginx.conf").test()


def test_render_defaults_the_admin_to_loopback(runner, cli_env, data_dir):
    env = {**cli_env, "LANDINGPAD_ADMIN_HOST": ADMIN}
    result = runner_with(env)("deploy", "render", "--listen", "127.0.0.1:1")
    assert result.exit_code == 0, result.output
    text = (data_dir / "deploy" / "landingpad.conf").read_text()
    assert f"    listen {DEFAULT_ADMIN_LISTEN};\n    server_name {ADMIN};" in text
    assert DEFAULT_ADMIN_LISTEN.startswith("127.0.0.1:")


def test_render_refuses_a_public_plain_admin_and_writes_nothing(cli_env, data_dir, tmp_path):
    run = runner_with({**cli_env, "LANDINGPAD_ADMIN_HOST": ADMIN})
    result = run("deploy", "render", "--admin-listen", "0.0.0.0:8443", "--no-check")
    assert result.exit_code == 2
    assert "plain HTTP on 0.0.0.0:8443" in result.output
    assert "--admin-tls-cert" in result.output and "--admin-insecure-http" in result.output
    assert not (data_dir / "deploy").exists()
    cert, key = self_signed_cert(tmp_path, ADMIN)
    result = run("deploy", "render", "--listen", "127.0.0.1:1", "--admin-listen", "0.0.0.0:8443",
                 "--admin-tls-cert", cert, "--admin-tls-key", key)
    assert result.exit_code == 0, result.output
    text = (data_dir / "deploy" / "landingpad.conf").read_text()
    assert "listen 0.0.0.0:8443 ssl http2;" in text and f"ssl_certificate {cert};" in text
    saved = json.loads((data_dir / "deploy" / "deploy.json").read_text())
    assert saved["admin_tls_certificate"] == cert and saved["admin_tls_key"] == key


def test_options_saved_by_an_older_release_are_refused_with_what_to_do(cli_env, data_dir):
    # deploy.json from before these checks: the admin on port 80 in plain HTTP.
    run = runner_with({**cli_env, "LANDINGPAD_ADMIN_HOST": ADMIN})
    assert run("deploy", "render", "--listen", "127.0.0.1:1", "--no-check").exit_code == 0
    saved = data_dir / "deploy" / "deploy.json"
    options = json.loads(saved.read_text())
    options.update(listen="80", admin_listen="")
    saved.write_text(json.dumps(options))
    sites_before = (data_dir / "sites.toml").read_bytes()
    result = run("domain", "add", "shop.test", "--title", "Shop")
    assert result.exit_code == 1
    assert "plain HTTP on 80" in result.output and "deploy render` again" in result.output
    assert (data_dir / "sites.toml").read_bytes() == sites_before


def runner_with(env: dict[str, str]):
    from click.testing import CliRunner

    from landingpad.cli import main

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False,
                                  prog_name="landingpad")

    return invoke

