"""Sign-up limits count an IPv6 client per /64, through the real nginx and app.

One IPv6 host usually holds a whole /64 and can take a fresh address for every request;
counted per address it would never be limited. The test stack's nginx takes the client's
address from a test header (nginx's realip module, trusted from loopback only: a
test-side line in nginx.conf, not in the product), so any address can be the client;
the rendered limit_req zone, the map and the app's limiter are the product's.
"""

from __future__ import annotations

import http.client
import os
import socket
from collections.abc import Callable, Iterator

import pytest

from landingpad.deploy.nginx import find_nginx
from landingpad.deploy.render import DeployOptions
from landingpad.deploy.stack import Stack
from tests.servers import free_port

pytestmark = [pytest.mark.backends("sqlite")]

HEADER = "X-Test-Client"
ONE_HOST = ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:DB8:1:2:0:0:0:77",
            "2001:db8:1:2:abcd:ef01:2345:6789"]
NEXT_64 = "2001:db8:1:3::1"
IPV4, IPV4_MAPPED = "198.51.100.7", "::ffff:198.51.100.7"
ALLOWED = 3  # per client: nginx 1r/m with burst 2, or the app's 3/minute


@pytest.fixture
def limited(cli_env, data_dir) -> Iterator[Callable[..., Stack]]:
    """Start the stack with sign-ups limited by ``who`` (nginx or the app) only."""
    started: list[Stack] = []

    def start(who: str, listen_host: str = "127.0.0.1", realip: bool = True) -> Stack:
        nginx = {"signup_rate": "1r/m", "signup_burst": ALLOWED - 1} if who == "nginx" else \
            {"signup_rate": "600000r/m", "signup_burst": 100000}
        app_rate = f"{ALLOWED}/minute" if who == "app" else "100000/minute"
        port = free_port()
        options = DeployOptions(deploy_dir=str(data_dir / "deploy"), data_dir=str(data_dir),
                                listen=f"{listen_host}:{port}", processes=2, cache_seconds=0,
                                sites_file=str(data_dir / "sites.toml"), **nginx)
        running = Stack(options, find_nginx(), env={**os.environ, **cli_env,
                                                    "LANDINGPAD_SIGNUP_RATE": app_rate})
        running.render(data_dir / "sites.toml")
        if realip:
            conf = running.deploy_dir / "nginx.conf"
            include = f"    include {running.deploy_dir}/landingpad.conf;"
            conf.write_text(conf.read_text().replace(
                include, f"    set_real_ip_from 127.0.0.1;\n    real_ip_header {HEADER};\n"
                         + include))
        running.start()
        running.port = port
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def post(stack: Stack, client: str | None = None, host: str = "127.0.0.1") -> int:
    conn = http.client.HTTPConnection(host, stack.port, timeout=10)
    headers = {"Host": "coffee.test", **({HEADER: client} if client else {})}
    conn.request("POST", "/signup", body="email=x%40example.com", headers={
        **headers, "Content-Type": "application/x-www-form-urlencoded"})
    status = conn.getresponse().status
    conn.close()
    return status


@pytest.mark.parametrize("who", ["nginx", "app"])
def test_a_whole_ipv6_64_is_one_client(limited, who):
    stack = limited(who)
    first = [post(stack, address) for address in ONE_HOST[:ALLOWED]]
    assert 429 not in first, first
    # Any other address of the same /64, however it is spelled, is the same client.
    assert post(stack, ONE_HOST[ALLOWED]) == 429
    assert post(stack, "2001:0db8:0001:0002:0000:0000:0000:0001") == 429
    assert post(stack, NEXT_64) != 429  # the next /64 is someone else


@pytest.mark.parametrize("who", ["nginx", "app"])
def test_an_ipv4_mapped_address_is_its_ipv4_client(limited, who):
    stack = limited(who)
    assert 429 not in [post(stack, IPV4) for _ in range(ALLOWED)]
    assert post(stack, IPV4_MAPPED) == 429
    assert post(stack, "198.51.100.8") != 429  # each IPv4 address is its own client


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
def test_a_real_ipv6_client_is_limited(limited):
    # Over a real IPv6 connection (::1), no test header: nginx's own address bytes.
    stack = limited("nginx", listen_host="[::1]", realip=False)
    codes = [post(stack, host="::1") for _ in range(ALLOWED + 1)]
    assert 429 not in codes[:ALLOWED] and codes[ALLOWED] == 429
