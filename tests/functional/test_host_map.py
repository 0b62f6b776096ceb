"""Which hosts nginx's host map serves, as which site, through real nginx and uWSGI.

A host and its www. twin share one map line (deploy.render.site_entries): a www. host
is served only when the sites file names it, and as the site it names. The app is
started with an empty sites file, so every answer below comes from what nginx passed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from landingpad.deploy.nginx import find_nginx
from landingpad.deploy.render import DeployOptions
from landingpad.deploy.stack import Stack
from tests.servers import free_port, request

pytestmark = pytest.mark.functional

SITES = """
[sites."coffee.test"]
LANDING_TITLE = "Coffee"
aliases = ["www.coffee.test", "cafe.test"]
[sites."bikes.test"]
LANDING_TITLE = "Bikes"
[sites."www.tea.test"]
LANDING_TITLE = "Tea"
[sites."shop.test"]
LANDING_TITLE = "Shop"
[sites."www.shop.test"]
LANDING_TITLE = "Shop on www"
[sites."www.www.deep.test"]
LANDING_TITLE = "Deep"
[sites."mail.test"]
LANDING_TITLE = "Mail"
aliases = ["www.post.test"]
[sites."default"]
LANDING_TITLE = "Default"
aliases = ["www.default"]
"""

SERVED = {
    "coffee.test": "Coffee", "www.coffee.test": "Coffee", "cafe.test": "Coffee",
    "bikes.test": "Bikes", "www.tea.test": "Tea", "shop.test": "Shop",
    "www.shop.test": "Shop on www", "www.www.deep.test": "Deep", "mail.test": "Mail",
    "www.post.test": "Mail", "default": "Default", "www.default": "Default",
}
NOT_SERVED = ["www.bikes.test", "tea.test", "www.www.tea.test", "www.www.coffee.test",
              "www.cafe.test", "deep.test", "www.deep.test", "www.mail.test", "post.test",
              "www.www.shop.test", "www.test", "www", "nobody.test"]


@pytest.fixture
def stack(data_dir, cli_env):
    (data_dir / "sites.toml").write_text(SITES)
    port = free_port()
    options = DeployOptions(deploy_dir=str(data_dir / "deploy"), data_dir=str(data_dir),
                            listen=f"127.0.0.1:{port}", processes=1,
                            sites_file=str(data_dir / "sites.toml"))
    running = Stack(options, find_nginx(), env={**os.environ, **cli_env})
    running.render(data_dir / "sites.toml")
    # nginx knows the sites; the app knows none: a page is served only from nginx's params.
    (data_dir / "sites.toml").write_text("")
    running.start()
    running.port = port
    yield running
    running.stop()


def test_each_configured_host_is_served_as_its_own_site_and_no_other_host_is(stack):
    for host, title in SERVED.items():
        status, _, body = request(stack.port, "GET", "/", host)
        assert (status, f"<h1>{title}</h1>".encode() in body) == (200, True), host
    for host in NOT_SERVED:
        assert request(stack.port, "GET", "/", host)[0] == 404, host


def test_the_map_holds_one_line_for_a_host_and_its_www_twin(stack):
    maps = (Path(stack.options.deploy_dir) / "landingpad-maps.conf").read_text()
    assert '    coffee.test "coffee.test";' in maps
    assert "www.coffee.test" not in maps
    assert '    shop.test "shop.test|www.shop.test";' in maps
    assert '    tea.test "|www.tea.test";' in maps
