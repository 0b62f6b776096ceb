"""10,000 domains: the generated nginx config stays valid (nginx -t) and compact (maps)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from landingpad.deploy.nginx import Nginx, find_nginx
from landingpad.deploy.render import DeployOptions, prepare_dirs, render_all
from landingpad.files import write_atomic
from landingpad.sites.sitesfile import parse_sites

pytestmark = pytest.mark.functional


def sites_text(count: int) -> str:
    lines = ['[defaults]\nLANDING_ACCENT = "#2a6df4"\n']
    for i in range(count):
        name = f"domain-{i:05d}.example"
        lines.append(f'[sites."{name}"]\nLANDING_TITLE = "Domain {i} \\"quoted\\""\n'
                     f'LANDING_EMAIL = "owner{i}@example.com"\naliases = ["www.{name}"]\n')
    return "\n".join(lines)


def test_ten_thousand_domains_pass_nginx_t(tmp_path: Path):
    config = parse_sites(sites_text(10_000), tmp_path / "sites.toml")
    assert len(config.hosts) == 20_000
    options = DeployOptions(deploy_dir=str(tmp_path / "deploy"), data_dir=str(tmp_path),
                            listen="127.0.0.1:1")
    for name, text in render_all(options, config).items():
        write_atomic(tmp_path / "deploy" / name, text.encode())
    prepare_dirs(options)
    maps = (tmp_path / "deploy" / "landingpad-maps.conf").read_text()
    # One host-map line per domain and its www. alias (deploy.render.site_entries).
    assert maps.count('.example "domain-') == 10_000 and "www.domain-" not in maps
    assert "server_name" not in (tmp_path / "deploy" / "landingpad.conf").read_text().replace(
        "server_name _;", "")  # one server block for all, not one per domain
    started = time.monotonic()
    Nginx(find_nginx(), tmp_path / "deploy" / "nginx.conf").test()
    elapsed = time.monotonic() - started
    print(f"nginx -t on 10,000 domains: {elapsed:.3f}s")
    assert elapsed < 120  # only a hang; the 0.1 s goal is bench/run's nginx_t_10k_s
