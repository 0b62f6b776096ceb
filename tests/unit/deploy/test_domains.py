"""`landingpad domain ...` with a rendered config and a real `nginx -t` (nginx not running)."""

import subprocess
import sys
from pathlib import Path

import pytest

from landingpad.sites.sitesfile import load_sites


@pytest.fixture
def rendered(runner, data_dir):
    result = runner("deploy", "render", "--listen", "127.0.0.1:1")
    assert result.exit_code == 0, result.output
    assert "nginx -t: ok" in result.output
    return data_dir / "deploy"


def snapshot(*dirs: Path) -> dict:
    return {p: p.read_bytes() for d in dirs for p in sorted(d.glob("*"))
            if p.is_file() and not p.name.startswith(".")}  # not the lock file


def test_add_writes_sites_file_and_map(runner, rendered, data_dir, backend):
    result = runner("domain", "add", "Shop.Test", "--title", "Shop", "--interests", "Hats, Shoes",
                    "--alias", "www.shop.test", "--email", "me@shop.example.com")
    assert result.exit_code == 0, result.output
    assert "added shop.test" in result.output
    assert "nginx is not running: the new config applies when it starts" in result.output
    config = load_sites(data_dir / "sites.toml")
    assert config.sites["shop.test"]["LANDING_INTERESTS"] == ("Hats", "Shoes")
    assert config.hosts["www.shop.test"] == "shop.test"
    maps = (rendered / "landingpad-maps.conf").read_text()
    assert '    shop.test "shop.test";' in maps and '    shop.test "Shop";' in maps  # + its www.
    assert runner("domain", "list").output.splitlines()[-1].startswith("shop.test\tShop")


def test_remove(runner, rendered, data_dir, backend):
    before = snapshot(data_dir, rendered)
    assert runner("domain", "add", "shop.test", "--title", "Shop").exit_code == 0
    result = runner("domain", "remove", "shop.test")
    assert result.exit_code == 0 and "removed shop.test" in result.output
    assert snapshot(data_dir, rendered) == before


@pytest.mark.parametrize(("args", "message"), [
    (["bad host!"], "not a valid host name"),
    (["a.test", "--accent", "red; }"], "must be a colour"),
    (["a.test", "--title", "two\nlines"], "control characters"),
    (["a.test", "--alias", "bad alias"], "not a valid host name"),
    (["coffee.test"], "already in the sites file"),
    (["a.test", "--alias", "www.coffee.test"], "already used by coffee.test"),
    (["a.test", "--tls-cert", "/x/c;.pem", "--tls-key", "/x/k.pem"], "absolute path"),
])
def test_bad_domains_are_refused_before_anything_is_written(runner, rendered, data_dir, args,
                                                            message, backend):
    before = snapshot(data_dir, rendered)
    result = runner("domain", "add", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert snapshot(data_dir, rendered) == before


def test_failed_nginx_test_rolls_back_byte_for_byte(runner, rendered, data_dir, backend):
    # A session ticket key nginx refuses (48 or 80 bytes): every nginx -t now fails.
    (rendered / "tls-tickets" / "current.key").write_bytes(b"short")
    before = snapshot(data_dir, rendered)
    result = runner("domain", "add", "shop.test", "--title", "Shop")
    assert result.exit_code == 1
    assert "rolled back, nothing changed" in result.output
    assert "current.key\" must be 48 or 80 bytes" in result.output
    assert snapshot(data_dir, rendered) == before


def test_an_owner_certificate_that_does_not_exist_is_refused(runner, rendered, data_dir,
                                                             backend):
    # nginx reads certificates from a map at each handshake, so nginx -t can't catch it.
    before = snapshot(data_dir, rendered)
    result = runner("domain", "add", "tls.test", "--tls-cert", "/nonexistent/cert.pem",
                    "--tls-key", "/nonexistent/key.pem")
    assert result.exit_code == 1
    assert "nothing changed: tls.test's TLS certificate /nonexistent/cert.pem does not exist" \
        in result.output
    assert snapshot(data_dir, rendered) == before


def test_without_a_rendered_config_only_the_sites_file_changes(runner, data_dir, backend):
    result = runner("domain", "add", "shop.test")
    assert result.exit_code == 0
    assert "the app picks the change up from the sites file" in result.output
    assert "shop.test" in load_sites(data_dir / "sites.toml").sites


def test_import_is_all_or_nothing(runner, rendered, data_dir, tmp_path, backend):
    good = tmp_path / "good.csv"
    good.write_text("domain,title,interests,aliases\n"
                    "one.test,One,A;B,www.one.test\n"
                    "two.test,Two,,\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("domain,title\nthree.test,Three\nnot valid!,Bad\n")
    before = snapshot(data_dir, rendered)
    result = runner("domain", "import", str(bad))
    assert result.exit_code == 2 and "line 3" in result.output
    assert snapshot(data_dir, rendered) == before
    result = runner("domain", "import", str(good))
    assert result.exit_code == 0 and "imported 2 domains" in result.output
    config = load_sites(data_dir / "sites.toml")
    assert config.sites["one.test"]["LANDING_INTERESTS"] == ("A", "B")
    assert config.hosts["www.one.test"] == "one.test" and "two.test" in config.sites


def test_import_refuses_unknown_columns(runner, data_dir, tmp_path, backend):
    path = tmp_path / "x.csv"
    path.write_text("domain,owner\nx.test,me\n")
    result = runner("domain", "import", str(path))
    assert result.exit_code == 1 and "unknown: owner" in result.output


def test_concurrent_domain_commands_are_serialised(cli_env, rendered, data_dir, backend):
    import os

    landingpad = Path(sys.executable).with_name("landingpad")
    env = {**os.environ, **cli_env}
    procs = [subprocess.Popen([str(landingpad), "domain", "add", f"c{i}.test", "--title", f"C{i}"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for i in range(6)]
    outputs = [p.communicate(timeout=60)[0].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    config = load_sites(data_dir / "sites.toml")
    assert {f"c{i}.test" for i in range(6)} <= set(config.sites)
    maps = (rendered / "landingpad-maps.conf").read_text()
    assert all(f'    c{i}.test "C{i}";' in maps for i in range(6))


def test_domains_spelled_like_map_parameters_pass_a_real_nginx_test(runner, rendered, data_dir,
                                                                   backend):
    # nginx would read `default "..."` as the map's default and `include "..."` as a
    # file to include: a site with such a name must be escaped, not break every add.
    for name in ("default", "include", "hostnames", "volatile"):
        result = runner("domain", "add", name, "--title", f"Site {name}")
        assert result.exit_code == 0, result.output
    result = runner("domain", "add", "after.test", "--title", "After")
    assert result.exit_code == 0, result.output
    maps = (rendered / "landingpad-maps.conf").read_text()
    assert '    \\default "default|";' in maps and '    \\include "Site include";' in maps
