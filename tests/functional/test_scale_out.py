"""docs/scale-out.md's topology, running: nginx -> two uWSGI nodes -> PostgreSQL, Redis, S3.

Node A is the usual stack (nginx + uWSGI on a unix socket); node B is a second
uWSGI with its own data dir on a TCP socket, as on another machine. They share
the database, Redis, the bucket, the secret key and the sites file (a shared
path, one of the two documented ways).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from itertools import count
from pathlib import Path
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from landingpad.admin.accounts import create_user
from landingpad.deploy.render import DeployOptions, nginx_upstream, render_all
from landingpad.deploy.uwsgi import uwsgi_binary
from landingpad.settings import load
from landingpad.sites.sitesfile import load_sites
from landingpad.storage.engine import make_engine
from tests.functional.conftest import start_stack
from tests.functional.test_admin_browser import ARTIFACTS, PASSWORD
from tests.functional.test_assets import landingpad, png
from tests.redis_server import start_redis
from tests.servers import free_port, request

pytestmark = [pytest.mark.functional, pytest.mark.backends("postgresql")]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_addresses = count(1)


def next_address() -> str:
    """A fresh loopback source address (127.0.0.0/8 is all ours): a client of its own."""
    n = next(_addresses)
    return f"127.1.{n // 250 % 250}.{n % 250 + 1}"


class Node:
    """A uWSGI app node on a TCP socket, started from its own rendered uwsgi.ini."""

    def __init__(self, folder: Path, env: dict[str, str], sites_file: Path) -> None:
        self.port = free_port()
        options = DeployOptions(deploy_dir=str(folder / "deploy"), data_dir=str(folder),
                                socket=f"127.0.0.1:{self.port}", processes=2,
                                sites_file=str(sites_file))
        ini = folder / "deploy" / "uwsgi.ini"
        ini.parent.mkdir(parents=True)
        ini.write_text(render_all(options, load_sites(sites_file))["uwsgi.ini"])
        self.log = folder / "uwsgi.log"
        with open(self.log, "ab") as log:
            # Its own session: kill -9 takes the master and its workers, like a machine dying.
            self.proc = subprocess.Popen([uwsgi_binary(), "--ini", str(ini)], env=env,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert self.proc.poll() is None and time.monotonic() < deadline, \
                    self.log.read_text()
                time.sleep(0.05)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def cluster(cli_env, data_dir, database_url, s3_env, tmp_path):
    redis = start_redis(tmp_path)
    engine = make_engine(database_url)
    with sa.orm.Session(engine) as session:
        create_user(session, "owner@example.com", PASSWORD)
    engine.dispose()
    sites_file = data_dir / "sites.toml"
    env = {**os.environ, **cli_env, **s3_env, "REDIS_URL": redis.url,
           "LANDINGPAD_SITES": str(sites_file), "LANDINGPAD_ADMIN_HOST": "admin.test",
           "LANDINGPAD_SIGNUP_RATE": "6/minute", "LANDINGPAD_MIN_FILL_SECONDS": "0"}
    node_b = Node(tmp_path / "node-b", {**env, "LANDINGPAD_DATA_DIR": str(tmp_path / "node-b")},
                  sites_file)
    socket_a = DeployOptions(deploy_dir=str(data_dir / "deploy"), data_dir=str(data_dir)).socket
    stack = start_stack(data_dir, env, upstreams=[f"unix:{socket_a}", f"127.0.0.1:{node_b.port}"],
                        admin_host="admin.test", cache_seconds=0, signup_rate="60000r/m",
                        signup_burst=1000, assets_upstream=nginx_upstream(load(environ=env)))
    stack.env_for_cli = env
    stack.node_b, stack.redis = node_b, redis
    yield stack
    stack.stop()
    node_b.stop()
    redis.stop()


def served_by(cluster, pattern: str) -> tuple[int, int]:
    """How many request-log lines of node A and of node B match ``pattern``."""
    time.sleep(0.2)  # uWSGI writes its request log after the response
    return tuple(len(re.findall(pattern, log.read_text()))  # type: ignore[return-value]
                 for log in (cluster.uwsgi_log, cluster.node_b.log))


def form_token(port: int, host: str = "coffee.test") -> str:
    _, _, body = request(port, "GET", "/", host)
    return re.search(rb'name="token" value="([^"]+)"', body).group(1).decode()


def post_signup(port: int, token: str, email: str, source: str,
                host: str = "coffee.test") -> int:
    """One sign-up from ``source``: the status, or 0 when the connection failed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                      source_address=(source, 0))
    try:
        conn.request("POST", "/signup", headers={"Host": host, **FORM},
                     body=urlencode({"email": email, "consent": "y", "token": token}))
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


def stored_emails(database_url: str) -> set[str]:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        emails = {r[0] for r in conn.exec_driver_sql("SELECT email FROM signups")}
    engine.dispose()
    return emails


def test_sign_ups_spread_over_both_nodes_land_once_each(cluster, database_url):
    token = form_token(cluster.port)
    results: list[tuple[str, int]] = []
    lock = threading.Lock()
    emails = count()
    deadline = time.monotonic() + 3.0

    def worker() -> None:
        while time.monotonic() < deadline:
            with lock:
                email, source = f"load{next(emails)}@example.com", next_address()
            status = post_signup(cluster.port, token, email, source)
            with lock:
                results.append((email, status))

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started

    acknowledged = [e for e, status in results if status == 303]
    assert len(acknowledged) == len(results) > 50  # every one, from its own client
    assert stored_emails(database_url) == set(acknowledged)  # each once, none extra
    a, b = served_by(cluster, r"POST coffee\.test/signup => 303")
    assert a > 0 and b > 0 and a + b == len(acknowledged)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "scale-out.json").write_text(json.dumps({
        "sign_ups": len(acknowledged), "seconds": round(elapsed, 2),
        "sign_ups_per_second": round(len(acknowledged) / elapsed, 1),
        "node_a": a, "node_b": b, "connections": 8}, indent=2) + "\n")


def test_the_per_client_limit_is_shared_by_both_nodes(cluster, database_url):
    token = form_token(cluster.port)
    source = next_address()
    codes = [post_signup(cluster.port, token, f"limit{i}@example.com", source)
             for i in range(10)]
    assert sorted(codes) == [303] * 6 + [429] * 4
    a, b = served_by(cluster, r"POST coffee\.test/signup => (?:303|429)")
    assert a > 0 and b > 0  # both nodes answered, and together they counted to 6
    assert len(stored_emails(database_url)) == 6
    # Another client is not held back by this one.
    assert post_signup(cluster.port, token, "other@example.com", next_address()) == 303


class Browser:
    """Cookies and CSRF like a browser, one connection per request (so nodes alternate)."""

    def __init__(self, port: int, host: str) -> None:
        self.port, self.host, self.cookie = port, host, ""

    def go(self, method: str, path: str, form: dict | None = None) -> tuple[int, str]:
        headers = {"Host": self.host, **({"Cookie": self.cookie} if self.cookie else {})}
        if form is not None:
            headers.update(FORM)
            headers["Origin"] = f"http://{self.host}:{self.port}"
        status, response_headers, body = request(
            self.port, method, path, self.host, urlencode(form) if form else None, headers)
        if "set-cookie" in response_headers:
            self.cookie = response_headers["set-cookie"].split(";", 1)[0]
        return status, body.decode()


def log_in(port: int) -> Browser:
    browser = Browser(port, "admin.test")
    _, page = browser.go("GET", "/login")
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    status, _ = browser.go("POST", "/login", {"csrf_token": csrf, "email": "owner@example.com",
                                              "password": PASSWORD})
    assert status == 302
    return browser


def test_an_admin_login_made_on_one_node_works_on_the_other(cluster):
    browser = log_in(cluster.port)
    for _ in range(6):
        status, page = browser.go("GET", "/")
        assert status == 200 and "Log out" in page
    a, b = served_by(cluster, r"GET admin\.test/ => 200")
    assert a > 0 and b > 0


def test_a_logo_uploaded_once_is_served_whichever_node_answers(cluster, tmp_path):
    logo = tmp_path / "logo.png"
    logo.write_bytes(png())
    result = landingpad(cluster.env_for_cli, "asset", "upload", "coffee.test", str(logo),
                        "--as", "logo")
    assert result.returncode == 0, result.stderr
    url = re.search(r"uploaded as (/assets/\S+)", result.stdout).group(1)
    time.sleep(1.2)  # each node re-reads the (shared) sites file within a second
    for _ in range(4):
        assert f'src="{url}"'.encode() in request(cluster.port, "GET", "/", "coffee.test")[2]
    assert served_by(cluster, r"GET coffee\.test/ => 200") >= (1, 1)
    status, _, body = request(cluster.port, "GET", url, "coffee.test")
    assert status == 200 and body == png()  # from the bucket, through nginx


def test_kill_9_of_one_node_under_load_loses_nothing(cluster, database_url):
    token = form_token(cluster.port)
    gets: list[int] = []
    posts: list[tuple[str, int]] = []
    lock = threading.Lock()
    emails = count()
    stop_at = time.monotonic() + 4.0

    def reader() -> None:
        while time.monotonic() < stop_at:
            status = request(cluster.port, "GET", "/privacy", "coffee.test")[0]
            with lock:
                gets.append(status)

    def writer() -> None:
        while time.monotonic() < stop_at:
            with lock:
                email, source = f"kill{next(emails)}@example.com", next_address()
            status = post_signup(cluster.port, token, email, source)
            with lock:
                posts.append((email, status))

    threads = [threading.Thread(target=f) for f in (reader, reader, reader, writer, writer,
                                                    writer, writer)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    cluster.node_b.kill()
    for t in threads:
        t.join()

    assert len(gets) > 50 and set(gets) == {200}  # GETs failed over: not one error
    acknowledged = {e for e, status in posts if status == 303}
    failed = {e for e, status in posts if status != 303}
    stored = stored_emails(database_url)
    assert acknowledged <= stored  # every 303 is in PostgreSQL
    # A POST fails only if it was sent to node B as it died (sent, so never resent): the
    # ones inside it, and any the kernel still queued on its socket while the processes
    # were torn down. A handful, never a stream. Such a one is stored only if B died
    # between COMMIT and its answer.
    assert len(failed) <= 10
    assert stored - acknowledged <= failed  # nothing stored that nobody sent
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "scale-out-kill.json").write_text(json.dumps({
        "gets": len(gets), "get_errors": sum(s != 200 for s in gets), "posts": len(posts),
        "acknowledged": len(acknowledged), "failed": len(failed),
        "failed_but_stored": len(failed & stored)}, indent=2) + "\n")


def test_with_redis_stopped_the_app_fails_open_and_says_so(cluster, database_url):
    cluster.redis.stop()
    token = form_token(cluster.port)
    codes = [post_signup(cluster.port, token, f"open{i}@example.com", next_address())
             for i in range(6)]
    assert codes == [303] * 6  # sign-ups go on: never a 500
    assert {f"open{i}@example.com" for i in range(6)} <= stored_emails(database_url)
    log_in(cluster.port)  # the log-in throttle fails open too
    logs = cluster.uwsgi_log.read_text() + cluster.node_b.log.read_text()
    assert "falling back to in-memory storage" in logs
    assert "=> 500" not in logs


def test_without_redis_the_limit_holds_across_one_nodes_processes(cli_env, data_dir):
    stack = start_stack(data_dir, {**cli_env, "LANDINGPAD_SIGNUP_RATE": "6/minute",
                                   "LANDINGPAD_MIN_FILL_SECONDS": "0"},
                        signup_rate="60000r/m", signup_burst=1000)
    try:
        token = form_token(stack.port)
        source = next_address()
        codes: list[int] = []
        barrier = threading.Barrier(10)

        def one(i: int) -> None:
            barrier.wait()  # all at once: both uWSGI workers take some
            codes.append(post_signup(stack.port, token, f"p{i}@example.com", source))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(codes) == [303] * 6 + [429] * 4
        time.sleep(0.2)
        workers = set(re.findall(r"POST coffee\.test/signup => \d+ \S+ \S+ worker=(\d+)",
                                 stack.uwsgi_log.read_text()))
        assert len(workers) == 2  # two processes, one count
        assert (data_dir / "ratelimits.sqlite").exists()
    finally:
        stack.stop()
