"""HTTPS in the rendered nginx config: one server block, certificates by name through maps,
the redirect map, HTTPS off unless asked, session ticket keys, DomainManager.refresh.

The live behaviour (handshakes through a real nginx) is tests/functional/test_https_nginx.py;
here the text, the files and a real `nginx -t`."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import time
from pathlib import Path

import pytest

from landingpad.deploy.domains import DomainError, DomainManager
from landingpad.deploy.nginx import Nginx, find_nginx
from landingpad.deploy.render import (
    NO_CERTIFICATE,
    TICKET_KEY_BYTES,
    DeployOptions,
    https_port_suffix,
    live_certificates,
    prepare_dirs,
    render_all,
    rotate_ticket_keys,
    ticket_key_paths,
)
from landingpad.files import write_atomic
from landingpad.sites.sitesfile import load_sites, parse_sites

NGINX = find_nginx()
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed")
OWNER = ('[sites."own.test"]\naliases = ["www.own.test"]\n'
         'tls_certificate = "/etc/ssl/own.pem"\ntls_certificate_key = "/etc/ssl/own.key"\n'
         '[sites."a.test"]\n[sites."plain.test"]\n')


def live(data_dir: Path, *names: str) -> None:
    folder = data_dir / "tls" / "live"
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text("not read by render\n")


def options(tmp_path: Path, **extra: str) -> DeployOptions:
    return DeployOptions(deploy_dir=str(tmp_path / "deploy"), data_dir=str(tmp_path),
                         listen="127.0.0.1:1", **extra)


def write(opts: DeployOptions, files: dict[str, str]) -> None:
    for name, text in files.items():
        write_atomic(Path(opts.deploy_dir) / name, text.encode())
    prepare_dirs(opts)


def test_https_is_off_unless_asked(tmp_path):
    files = render_all(options(tmp_path), parse_sites(OWNER, Path("s")))
    conf = files["landingpad.conf"]
    assert " ssl" not in conf.replace("ssl_", "") and "443" not in conf
    assert "include " + str(tmp_path / "deploy" / "landingpad-tls.conf") not in conf
    assert "redirect" not in conf
    assert "map " not in files["landingpad-tls.conf"]


def test_a_deploy_json_of_an_older_release_still_loads(tmp_path):
    opts = options(tmp_path, https_listen="443")
    saved = json.loads(json.dumps(opts.__dict__))
    Path(opts.deploy_dir).mkdir()
    del saved["https_listen"]  # a release before https_listen existed: HTTPS stays off
    (Path(opts.deploy_dir) / "deploy.json").write_text(json.dumps(saved))
    assert DeployOptions.load(Path(opts.deploy_dir)).https_listen == ""
    saved["https_listen"] = "443"  # the last release saved 443: HTTPS for every domain now
    (Path(opts.deploy_dir) / "deploy.json").write_text(json.dumps(saved))
    assert DeployOptions.load(Path(opts.deploy_dir)).https_listen == "443"


def test_one_https_block_takes_certificates_from_maps(tmp_path):
    live(tmp_path, "a.test.pem", "b.test.pem", "default.pem", "Upper.test.pem", ".a.test.pem.x",
         "a.test.pem.tmp", "bad_name.pem", "-x.test.pem", "notes.txt")
    opts = options(tmp_path, https_listen="127.0.0.1:8443")
    files = render_all(opts, parse_sites(OWNER, Path("s")))
    conf, tls = files["landingpad.conf"], files["landingpad-tls.conf"]
    assert conf.count("ssl_certificate ") == 1 and conf.count("listen 127.0.0.1:8443") == 1
    for line in ("listen 127.0.0.1:8443 ssl http2 default_server;",
                 "ssl_certificate $landingpad_tls_cert;",
                 "ssl_certificate_key $landingpad_tls_key;",
                 "ssl_protocols TLSv1.2 TLSv1.3;",
                 "ssl_session_cache shared:landingpad_tls:10m;",
                 "ssl_session_tickets on;",
                 "return 301 https://$host:8443$request_uri;"):
        assert line in conf
    keys = [line.split()[-1] for line in conf.splitlines() if "ssl_session_ticket_key" in line]
    assert keys == [f"{p};" for p in ticket_key_paths(opts.deploy_dir)]
    https_block = conf.split("ssl http2 default_server;")[1].split("\n}\n")[0]
    assert f"include {opts.deploy_dir}/landingpad-app.conf;" in https_block

    cert_map = tls.split("$landingpad_tls_cert {")[1].split("}")[0]
    folder = tmp_path / "tls" / "live"
    assert [line.strip() for line in cert_map.strip().splitlines()] == [
        f'default "{opts.deploy_dir}/{NO_CERTIFICATE}";',
        f'a.test "{folder}/a.test.pem";',
        f'b.test "{folder}/b.test.pem";',
        f'\\default "{folder}/default.pem";',  # escaped: not the map's own default
        'own.test "/etc/ssl/own.pem";',
        'www.own.test "/etc/ssl/own.pem";',
    ]
    key_map = tls.split("$landingpad_tls_key {")[1].split("}")[0]
    # Live files hold their key: only the owner's separate key files are listed.
    assert [line.strip() for line in key_map.strip().splitlines()] == [
        "default $landingpad_tls_cert;",
        'own.test "/etc/ssl/own.key";', 'www.own.test "/etc/ssl/own.key";']
    redirect = tls.split("$landingpad_has_certificate {")[1].split("}")[0]
    assert "plain.test" not in redirect and "    a.test 1;" in redirect
    assert not (Path(opts.deploy_dir) / NO_CERTIFICATE).exists()


@pytest.mark.parametrize("https", ["127.0.0.1:1", "1", "*:1", "0.0.0.0:1"])
def test_https_and_plain_http_cannot_share_a_socket(tmp_path, https):
    with pytest.raises(ValueError, match="HTTPS needs a listen address of its own"):
        options(tmp_path, https_listen=https)
    with pytest.raises(ValueError, match="can't share HTTPS's"):
        options(tmp_path, https_listen="127.0.0.1:2", admin_host="admin.test",
                admin_listen="127.0.0.1:2")


@pytest.mark.parametrize(("listen", "suffix"), [
    ("443", ""), ("0.0.0.0:443", ""), ("[::]:443", ""), ("8443", ":8443"),
    ("127.0.0.1:8443", ":8443")])
def test_the_redirect_keeps_a_non_default_https_port(listen, suffix):
    assert https_port_suffix(listen) == suffix


def test_the_acme_path_falls_through_to_the_app(tmp_path):
    app = render_all(options(tmp_path), parse_sites("", Path("s")))["landingpad-app.conf"]
    block = app.split("location ^~ /.well-known/acme-challenge/ {")[1].split("}")[0]
    assert f"root {tmp_path}/deploy/acme;" in block and "try_files $uri @app;" in block


def test_the_app_is_told_about_https_by_nginx_alone(tmp_path):
    params = render_all(options(tmp_path, https_listen="443"),
                        parse_sites("", Path("s")))["landingpad-params.conf"]
    assert "uwsgi_param HTTPS $https if_not_empty;" in params
    assert params.index('uwsgi_param HTTP_X_FORWARDED_PROTO "";') < params.index(
        "uwsgi_param HTTPS $https")


def test_listing_ignores_what_is_not_a_host(tmp_path):
    assert live_certificates(tmp_path) == {}  # no folder yet
    live(tmp_path, "ok.test.pem", "OK2.test.pem", ".ok.test.pem.abc", "x..test.pem", "a.pem")
    found = live_certificates(tmp_path)
    assert sorted(found) == ["a", "ok.test"]


def test_ticket_keys_are_private_and_rotate(tmp_path):
    deploy = tmp_path / "deploy"
    assert rotate_ticket_keys(deploy) is True  # none yet: made
    paths = ticket_key_paths(deploy)
    assert stat.S_IMODE(paths[0].parent.stat().st_mode) == 0o700
    first = [p.read_bytes() for p in paths]
    for path, data in zip(paths, first, strict=True):
        assert len(data) == TICKET_KEY_BYTES and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(set(first)) == 3
    assert rotate_ticket_keys(deploy) is False  # fresh: kept
    assert rotate_ticket_keys(deploy, now=time.time() + 13 * 3600) is True
    second = [p.read_bytes() for p in paths]
    assert second[1:] == first[:2] and second[0] not in first
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in paths)
    assert rotate_ticket_keys(deploy, max_age=0) is True
    assert [p.read_bytes() for p in paths][1:] == second[:2]


@needs_nginx
def test_nginx_accepts_the_https_config(tmp_path):
    live(tmp_path, "a.test.pem")  # never read by nginx -t: a map value, not a static path
    opts = options(tmp_path, https_listen="127.0.0.1:2", admin_host="admin.test")
    write(opts, render_all(opts, parse_sites(OWNER, Path("s"))))
    Nginx(NGINX, Path(opts.deploy_dir) / "nginx.conf").test()


@needs_nginx
def test_nginx_t_with_ten_thousand_certificates(tmp_path):
    """Only a hang is caught here: how fast is bench/run's business."""
    folder = tmp_path / "tls" / "live"
    folder.mkdir(parents=True)
    hosts = [f"site{i:05d}.example" for i in range(10_000)]
    for host in hosts:
        (folder / f"{host}.pem").touch()
    sites = "".join(f'[sites."{h}"]\n' for h in hosts)
    opts = options(tmp_path, https_listen="127.0.0.1:2")
    files = render_all(opts, parse_sites(sites, Path("s")))
    assert files["landingpad-tls.conf"].count("live/site") == 10_000
    write(opts, files)
    result = subprocess.run([NGINX, "-t", "-q", "-c", str(Path(opts.deploy_dir) / "nginx.conf")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


# -- DomainManager.refresh -----------------------------------------------------------

@pytest.fixture
def manager(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "sites.toml").write_text('[sites."a.test"]\n[sites."b.test"]\n')
    opts = DeployOptions(deploy_dir=str(data / "deploy"), data_dir=str(data),
                         listen="127.0.0.1:1", https_listen="127.0.0.1:2",
                         sites_file=str(data / "sites.toml"))
    write(opts, render_all(opts, load_sites(data / "sites.toml")))
    opts.save()
    return DomainManager(sites_path=data / "sites.toml", data_dir=data,
                         deploy_dir=data / "deploy", nginx_binary=NGINX or "",
                         nginx_conf=data / "deploy" / "nginx.conf")


def snapshot(*folders: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for d in folders for p in sorted(d.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


@needs_nginx
def test_refresh_follows_the_live_certificates(manager):
    sites_before = manager.sites_path.stat()
    live(manager.data_dir, "a.test.pem")
    outcome = manager.refresh()
    assert "nginx is not running: the new config applies when it starts" in outcome.messages
    tls = (manager.deploy_dir / "landingpad-tls.conf").read_text()
    assert '    a.test "' in tls and "b.test" not in tls
    after = manager.sites_path.stat()  # the sites file is left alone
    assert (after.st_mtime_ns, after.st_ino) == (sites_before.st_mtime_ns, sites_before.st_ino)
    before = snapshot(manager.deploy_dir)
    assert manager.refresh().messages == []  # nothing changed: no test, no reload
    assert snapshot(manager.deploy_dir) == before
    (manager.data_dir / "tls" / "live" / "a.test.pem").unlink()  # expired, moved away
    manager.refresh()
    assert "a.test" not in (manager.deploy_dir / "landingpad-tls.conf").read_text()


@needs_nginx
def test_refresh_rolls_back_byte_for_byte(manager):
    # A ticket key nginx refuses (it must be 48 or 80 bytes): nginx -t fails.
    ticket = ticket_key_paths(manager.deploy_dir)[0]
    ticket.write_bytes(b"short")
    before = snapshot(manager.deploy_dir, manager.data_dir)
    live(manager.data_dir, "a.test.pem")
    with pytest.raises(DomainError, match="rolled back, nothing changed"):
        manager.refresh()
    (manager.data_dir / "tls" / "live" / "a.test.pem").unlink()
    assert snapshot(manager.deploy_dir, manager.data_dir) == before


@needs_nginx
def test_refresh_creates_missing_ticket_keys(manager):
    for path in ticket_key_paths(manager.deploy_dir):
        path.unlink()
    live(manager.data_dir, "b.test.pem")
    manager.refresh()
    assert all(p.stat().st_size == TICKET_KEY_BYTES for p in ticket_key_paths(manager.deploy_dir))


def test_refresh_without_a_sites_file_creates_none(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    manager = DomainManager(sites_path=data / "sites.toml", data_dir=data,
                            deploy_dir=data / "deploy", nginx_binary="",
                            nginx_conf=data / "deploy" / "nginx.conf")
    manager.refresh()
    assert not (data / "sites.toml").exists()


def test_an_owner_certificate_that_does_not_exist_is_refused(manager, tmp_path):
    before = snapshot(manager.deploy_dir, manager.data_dir)
    with pytest.raises(DomainError, match=re.escape("nothing changed: c.test's TLS certificate "
                                                    "/nonexistent/c.pem does not exist")):
        manager.apply(lambda text: text + '[sites."c.test"]\ntls_certificate = '
                      '"/nonexistent/c.pem"\ntls_certificate_key = "/nonexistent/c.key"\n')
    assert snapshot(manager.deploy_dir, manager.data_dir) == before
    cert, key = tmp_path / "c.pem", tmp_path / "c.key"
    cert.touch()
    key.touch()
    manager.apply(lambda text: text + f'[sites."c.test"]\ntls_certificate = "{cert}"\n'
                  f'tls_certificate_key = "{key}"\n')
    key.unlink()  # moved later: a refresh does not fail on a path already in the file
    manager.refresh()
    assert f'    c.test "{key}";' in (manager.deploy_dir / "landingpad-tls.conf").read_text()


def test_cli_render_listens_for_https_on_443_by_default(runner, data_dir):
    result = runner("deploy", "render", "--listen", "127.0.0.1:1", "--no-check")
    assert result.exit_code == 0, result.output
    conf = (data_dir / "deploy" / "landingpad.conf").read_text()
    assert "listen 443 ssl http2 default_server;" in conf
    assert all(p.exists() for p in ticket_key_paths(data_dir / "deploy"))
    result = runner("deploy", "render", "--listen", "127.0.0.1:1", "--https-listen", "",
                    "--no-check")
    assert result.exit_code == 0, result.output
    assert "ssl" not in (data_dir / "deploy" / "landingpad.conf").read_text()


def test_hsts_is_a_per_site_bool():
    from landingpad.sites.site import FIELDS_BY_KEY, parse_value

    assert FIELDS_BY_KEY["LANDING_HSTS"].default is False
    assert parse_value("LANDING_HSTS", "on") is True and parse_value("LANDING_HSTS", False) is False
    with pytest.raises(ValueError, match="true or false"):
        parse_value("LANDING_HSTS", "maybe")
    config = parse_sites('[sites."a.test"]\nLANDING_HSTS = true\n', Path("s"))
    maps = render_all(DeployOptions(deploy_dir="/d", data_dir="/"), config)
    assert "uwsgi_param LANDING_HSTS $landing_hsts if_not_empty;" in maps["landingpad-params.conf"]
    assert '    a.test "1";' in maps["landingpad-maps.conf"] or \
        '    a.test "true";' in maps["landingpad-maps.conf"]


def test_modes_of_what_render_makes(tmp_path):
    opts = options(tmp_path, https_listen="127.0.0.1:2")
    write(opts, render_all(opts, parse_sites("", Path("s"))))
    folder = Path(opts.deploy_dir) / "tls-tickets"
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
