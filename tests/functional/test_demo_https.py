"""`landingpad demo --https-port`: the demo's sites over HTTPS, as a person runs it.

Without LANDINGPAD_ACME_DIRECTORY the demo makes a throwaway CA and signs every
*.localhost host; with it (pebble here, as the outside checks run it) the
certificate worker inside the demo orders them, validated through the demo's
own nginx. Either way a domain added while the demo runs is served over HTTPS
within seconds with no nginx restart, and SIGTERM stops every process the demo
started (a killed demo once left uWSGI running).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import TEST_SECRET
from tests.servers import free_port, request

pytestmark = pytest.mark.functional

LANDINGPAD = str(Path(sys.executable).with_name("landingpad"))
DEMO_HOSTS = ["bikes.localhost", "books.localhost", "coffee.localhost", "www.coffee.localhost"]


@dataclass
class Demo:
    proc: subprocess.Popen
    env: dict[str, str]
    data_dir: Path
    log: Path
    port: int
    https_port: int

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def said(self, text: str, timeout: float = 30.0) -> bool:
        """Whether the demo prints ``text`` within ``timeout`` s (its lines may come a
        moment after what they report is already served)."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def landingpad(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([LANDINGPAD, *args], env=self.env, capture_output=True,
                              text=True, timeout=60)

    def nginx_pid(self) -> int:
        return int((self.data_dir / "deploy" / "nginx.pid").read_text().split()[0])


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process now."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        found[int(entry)] = (ppid, cmdline)
    return found


def _descendants(root: int) -> set[int]:
    procs = _processes()
    found, todo = set(), [root]
    while todo:
        parent = todo.pop()
        for pid, (ppid, _) in procs.items():
            if ppid == parent and pid not in found:
                found.add(pid)
                todo.append(pid)
    return found


def _serving(data_dir: Path) -> set[int]:
    """Processes still serving this data dir (nginx's master, uWSGI and its workers)."""
    marker = str(data_dir / "deploy")
    return {pid for pid, (_, cmdline) in _processes().items() if marker in cmdline}


@pytest.fixture
def start_demo(tmp_path):
    """Start `landingpad demo` (fresh data dir: the demo's own sites); at teardown SIGTERM
    it by pid and check that nothing it started is left."""
    started: list[tuple[Demo, set[int]]] = []

    def start(port: int, https_port: int, **env: str) -> Demo:
        data_dir = tmp_path / "data"
        base = {k: v for k, v in os.environ.items() if not k.startswith("LANDINGPAD_")}
        full_env = {**base, "LANDINGPAD_DATA_DIR": str(data_dir),
                    "LANDINGPAD_SECRET_KEY": TEST_SECRET, **env}
        full_env.pop("DATABASE_URL", None)
        log = tmp_path / "demo.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([LANDINGPAD, "demo", "--port", str(port), "--https-port",
                                     str(https_port)], env=full_env, stdout=out,
                                    stderr=subprocess.STDOUT)
        demo = Demo(proc, full_env, data_dir, log, port, https_port)
        children: set[int] = set()
        started.append((demo, children))
        deadline = time.monotonic() + 60
        while "Ctrl-C stops." not in demo.output():
            assert proc.poll() is None, f"the demo exited:\n{demo.output()}"
            assert time.monotonic() < deadline, f"the demo did not start:\n{demo.output()}"
            time.sleep(0.1)
        children |= _descendants(proc.pid)
        return demo

    yield start
    for demo, children in started:
        stop_demo(demo)
        children |= _serving(demo.data_dir)
        left = {pid for pid in children if _alive(pid)}
        for pid in left:  # don't leak into the rest of the run, but fail
            os.kill(pid, signal.SIGKILL)
        assert not left, f"the demo left processes running: {left}\n{demo.output()}"


def stop_demo(demo: Demo) -> None:
    """SIGTERM, as a service manager or `kill` sends: the demo must stop its children."""
    children = _descendants(demo.proc.pid)
    if demo.proc.poll() is None:
        os.kill(demo.proc.pid, signal.SIGTERM)
        try:
            demo.proc.wait(45)
        except subprocess.TimeoutExpired:
            os.kill(demo.proc.pid, signal.SIGKILL)
            demo.proc.wait(10)
            raise AssertionError(f"the demo ignored SIGTERM:\n{demo.output()}") from None
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def https_get(port: int, host: str, cafile: Path, path: str = "/") -> tuple[int, str, dict]:
    """GET over TLS to 127.0.0.1:port with SNI ``host``, verifying the chain and the name
    against ``cafile``: (status, body, the peer certificate)."""
    context = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock, \
            context.wrap_socket(sock, server_hostname=host) as tls:
        peer = tls.getpeercert()
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                    .encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace"), peer


def wait_for_https(port: int, host: str, cafile: Path, timeout: float,
                   steady: float = 0.5) -> float:
    """Seconds until ``host`` verifies on ``port`` and keeps verifying for ``steady``
    seconds; fails with the last error.

    Steady, because the first success can come from a reload's new workers while the old
    ones, which don't know the name yet, still take connections: nginx's master signals
    them to quit only 100 ms after starting the new ones.
    """
    started = time.monotonic()
    since = None  # when the current run of successes began
    while True:
        try:
            status, _, _ = https_get(port, host, cafile)
            assert status == 200
            since = since if since is not None else time.monotonic()
            if time.monotonic() - since >= steady:
                return since - started
        except (OSError, AssertionError) as exc:  # ssl.SSLError is an OSError
            since = None
            if time.monotonic() - started > timeout:
                raise AssertionError(f"https://{host}:{port}/ not served with a verified "
                                     f"certificate within {timeout}s: {exc!r}") from None
        time.sleep(0.05)


def issuer_cn(peer: dict) -> str:
    return dict(item[0] for item in peer["issuer"])["commonName"]


def test_local_ca_serves_every_localhost_site_and_a_domain_added_live(start_demo):
    port, https_port = free_port(), free_port()
    demo = start_demo(port, https_port)
    output = demo.output()

    # The demo names its CA where it prints the URLs, and says how to trust it.
    match = re.search(r"curl --cacert (\S+) https://", output)
    assert match, output
    ca_file = Path(match.group(1))
    assert ca_file == demo.data_dir / "tls" / "demo-ca" / "ca.pem"
    assert "landingpad demo CA" in output and "import that file in the browser" in output
    for domain in ("coffee.localhost", "bikes.localhost", "books.localhost"):
        assert f"https://{domain}:{https_port}/" in output
    assert stat.S_IMODE((ca_file.parent / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(ca_file.parent.stat().st_mode) == 0o700

    for host in DEMO_HOSTS:
        status, _, peer = https_get(https_port, host, ca_file)
        assert status == 200, host
        assert "landingpad demo CA" in issuer_cn(peer)
    assert "Coffee Club" in https_get(https_port, "www.coffee.localhost", ca_file)[1]
    # A name the CA didn't sign (not in the sites file) gets no certificate at all.
    with pytest.raises(ssl.SSLError):
        https_get(https_port, "other.localhost", ca_file)

    # Plain HTTP sends each of these hosts to HTTPS; ACME's path stays plain HTTP.
    for host in DEMO_HOSTS:
        status, headers, _ = request(port, "GET", "/?a=1", host)
        assert status == 301 and headers["location"] == f"https://{host}:{https_port}/?a=1"
    status, _, _ = request(port, "GET", "/.well-known/acme-challenge/nothing", "coffee.localhost")
    assert status == 404

    # A domain added while the demo runs: served over HTTPS within seconds, by the same
    # nginx master (a reload, no restart).
    nginx_pid = demo.nginx_pid()
    added = demo.landingpad("domain", "add", "shop.localhost", "--title", "Shop")
    assert added.returncode == 0, added.stdout + added.stderr
    # Bounded only against a hang: how fast is bench's business (a second or two here).
    wait_for_https(https_port, "shop.localhost", ca_file, timeout=60)
    assert "Shop" in https_get(https_port, "shop.localhost", ca_file)[1]
    assert demo.nginx_pid() == nginx_pid
    assert request(port, "GET", "/", "shop.localhost")[0] == 301
    assert demo.said("certificate from the demo CA: https://shop.localhost:"), demo.output()

    # SIGTERM: the demo stops nginx and uWSGI itself (the fixture checks none is left).
    stop_demo(demo)
    assert demo.proc.returncode is not None and "stopping" in demo.output()
    assert not _serving(demo.data_dir)


def test_with_an_acme_directory_the_worker_in_the_demo_gets_certificates_from_it(
        start_demo, pebble_factory, tmp_path):
    port, https_port = free_port(), free_port()
    pebble = pebble_factory(port)  # pebble validates HTTP-01 on the demo's HTTP port
    trust = tmp_path / "pebble-roots.pem"
    trust.write_bytes(pebble.roots_pem() + b"\n" + pebble.intermediates_pem())
    # LANDINGPAD_ACME_HTTP_PORT is left out: the demo defaults it to its own port.
    demo = start_demo(port, https_port, LANDINGPAD_ACME_DIRECTORY=pebble.directory,
                      LANDINGPAD_ACME_CA_BUNDLE=str(pebble.ca_bundle),
                      LANDINGPAD_DNS_SERVER=pebble.dns_server)
    assert pebble.directory in demo.output()
    assert not (demo.data_dir / "tls" / "demo-ca").exists()  # no local CA in this mode

    wait_for_https(https_port, "coffee.localhost", trust, timeout=30)
    status, body, peer = https_get(https_port, "coffee.localhost", trust)
    assert status == 200 and "Coffee Club" in body
    assert "Pebble" in issuer_cn(peer)
    # Once it has its certificate, HTTP redirects to it.
    assert request(port, "GET", "/", "coffee.localhost")[0] == 301

    nginx_pid = demo.nginx_pid()
    added = demo.landingpad("domain", "add", "x.test", "--title", "X Test")
    assert added.returncode == 0, added.stdout + added.stderr
    wait_for_https(https_port, "x.test", trust, timeout=90)  # against a hang only
    assert "X Test" in https_get(https_port, "x.test", trust)[1]
    assert demo.nginx_pid() == nginx_pid
    assert demo.said(f"certificate issued: https://x.test:{https_port}/"), demo.output()

    status = demo.landingpad("tls", "status")
    assert status.returncode == 0, status.stderr
    lines = {line.split("\t")[0]: line.split("\t") for line in status.stdout.splitlines()}
    assert lines["x.test"][1] == "valid", status.stdout
    assert lines["coffee.localhost"][1] == "valid", status.stdout


def test_a_uwsgi_master_killed_hard_leaves_no_worker_behind(start_demo):
    """The known leak: a uWSGI worker stuck right after fork (waiting forever for a GIL
    another thread held at fork) ignores SIGTERM and never notices its master die, so
    when the master is SIGKILLed (Stack.stop's last resort) it lives on. Stuck here with
    SIGSTOP; the demo adopts such orphans (subreaper) and stops them by pid."""
    demo = start_demo(free_port(), free_port())
    uwsgi = int(re.search(r"uWSGI \(pid (\d+)\)", demo.output()).group(1))
    workers = _descendants(uwsgi)
    assert workers
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    os.kill(uwsgi, signal.SIGKILL)
    demo.proc.wait(45)  # a server exited: the demo stops the rest by itself
    assert "a server exited" in demo.output()
    assert not any(_alive(pid) for pid in workers), demo.output()
    assert not _serving(demo.data_dir)
