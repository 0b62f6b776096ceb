"""The deploy area against someone who reaches the uWSGI socket, or the admin listener.

uWSGI acts on magic variables in a uwsgi packet (UWSGI_FILE=exec://... runs a command):
refused before any loading, through the real uWSGI that `deploy render` configures, on
its unix socket. The socket's folder outside the deploy dir is one only the app's user
can write. The admin area can be served over TLS, with a Secure session cookie.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from landingpad.admin.accounts import create_user
from landingpad.deploy.render import DeployOptions, render_all
from landingpad.deploy.uwsgi import uwsgi_binary
from landingpad.sites.sitesfile import load_sites
from landingpad.storage.engine import make_engine
from landingpad.web.magic import MAGIC_VARS
from tests.functional.conftest import start_stack
from tests.servers import free_port, landingpad_serve, request, self_signed_cert, stop

pytestmark = pytest.mark.functional


def uwsgi_packet(variables: list[tuple[bytes, bytes]], modifier1: int = 0) -> bytes:
    body = b"".join(struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v
                    for k, v in variables)
    return struct.pack("<BHB", modifier1, len(body), 0) + body


def send_packet(path: str, variables: list[tuple[bytes, bytes]], modifier1: int = 0) -> bytes:
    """What uWSGI answers a raw packet on its unix socket (as nginx would send it)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(20)
        sock.connect(path)
        sock.sendall(uwsgi_packet(variables, modifier1))
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def get(host: bytes = b"coffee.test", path: bytes = b"/") -> list[tuple[bytes, bytes]]:
    # What nginx sends for a GET, LANDING_DOMAIN included (the app needs the site).
    return [(b"REQUEST_METHOD", b"GET"), (b"REQUEST_URI", path), (b"PATH_INFO", path),
            (b"QUERY_STRING", b""), (b"SERVER_PROTOCOL", b"HTTP/1.1"),
            (b"SERVER_NAME", host), (b"SERVER_PORT", b"80"), (b"HTTP_HOST", host),
            (b"REMOTE_ADDR", b"-"), (b"LANDING_DOMAIN", host)]


def status(response: bytes) -> int:
    match = re.match(rb"HTTP/1\.[01] (\d{3})", response)
    assert match, response[:200]
    return int(match.group(1))


def worker_pids(master: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                pids.append(int(entry.name))
    return pids


@pytest.fixture
def plain_stack(cli_env, data_dir):
    running = start_stack(data_dir, cli_env, cache_seconds=0)
    yield running
    running.stop()


def test_uwsgi_refuses_magic_variables_before_loading_anything(plain_stack, tmp_path):
    sock = plain_stack.options.socket
    marker = tmp_path / "ran"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = f"exec://touch {marker}; echo application=None".encode()
    workers = worker_pids(plain_stack.uwsgi.pid)
    cwd_before = {pid: os.readlink(f"/proc/{pid}/cwd") for pid in workers}
    attempts = {
        "exec": [(b"UWSGI_FILE", run), (b"UWSGI_APPID", b"zz")],
        # The parser keeps the last value: an empty first one must not hide it.
        "exec twice": [(b"UWSGI_FILE", b""), (b"UWSGI_FILE", run), (b"UWSGI_APPID", b"zz")],
        "exec by SCRIPT_NAME": [(b"UWSGI_FILE", run), (b"SCRIPT_NAME", b"/zz")],
        "chdir": [(b"UWSGI_CHDIR", str(elsewhere).encode()), (b"UWSGI_FILE", b"/nonexistent.py"),
                  (b"UWSGI_APPID", b"yy")],
        "exec, another plugin": [(b"UWSGI_FILE", run), (b"UWSGI_APPID", b"xx")],
    }
    for name, extra in attempts.items():
        modifier1 = 173 if name == "exec, another plugin" else 0
        response = send_packet(sock, [*get(), *extra], modifier1)
        time.sleep(0.2)  # a command would have run by now
        assert not marker.exists(), name
        assert status(response) == 403, name
    for name in sorted(MAGIC_VARS):  # every one, alone, with a value
        assert status(send_packet(sock, [*get(), (name.encode(), b"x=1")])) == 403, name
    assert {pid: os.readlink(f"/proc/{pid}/cwd") for pid in cwd_before} == cwd_before
    # An empty value orders nothing: past uWSGI's routes, the app refuses it itself.
    for name in sorted(MAGIC_VARS):
        assert status(send_packet(sock, [*get(), (name.encode(), b"")])) == 403, name
    # The app still serves, on the socket and through nginx.
    assert status(send_packet(sock, get())) == 200
    assert request(plain_stack.port, "GET", "/", "coffee.test")[0] == 200
    assert b"Coffee" in send_packet(sock, get())


def test_a_setenv_from_the_socket_is_put_back_after_the_refused_request(plain_stack):
    sock = plain_stack.options.socket
    log = plain_stack.uwsgi_log
    before = log.read_text(errors="replace").count("variable(s) put back")
    for done, modifier1 in enumerate((0, 110), start=1):
        response = send_packet(sock, [*get(), (b"UWSGI_SETENV", b"SSL_CERT_FILE=/x.pem")],
                               modifier1)
        assert status(response) == 403
        # Put back once that request is over (uWSGI's after-request hook, run after the
        # answer): with threads, a next request sent at once may find the variable still
        # set, change nothing, and be put back by the same check. One at a time here.
        deadline = time.monotonic() + 10
        while log.read_text(errors="replace").count("variable(s) put back") < before + done:
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
            time.sleep(0.1)
    # Ordinary requests change nothing, so nothing is put back for them.
    for _ in range(4):
        assert status(send_packet(sock, get())) == 200
    time.sleep(0.3)
    assert log.read_text(errors="replace").count("variable(s) put back") == before + 2


# -- the socket's folder, when the deploy dir is too long for a unix socket ------------------

def start_uwsgi(ini: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen([uwsgi_binary(), "--ini", str(ini)], env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def test_a_long_deploy_dirs_socket_lives_in_a_folder_only_uwsgi_owns(cli_env, data_dir,
                                                                     tmp_path):
    deploy_dir = data_dir / ("deploy-" + "x" * 100)
    options = DeployOptions(deploy_dir=str(deploy_dir), data_dir=str(data_dir), processes=1,
                            sites_file=str(data_dir / "sites.toml"))
    sock = Path(options.socket)
    folder = sock.parent
    assert folder.parent == Path("/tmp") and folder != Path("/tmp")
    shutil.rmtree(folder, ignore_errors=True)  # a previous run's
    ini = deploy_dir / "uwsgi.ini"
    ini.parent.mkdir()
    ini.write_text(render_all(options, load_sites(data_dir / "sites.toml"))["uwsgi.ini"])
    env = {**os.environ, **cli_env}
    log = tmp_path / "uwsgi.log"
    try:
        # Another local user got there first (here: a folder given to nobody, then a
        # symlink to a folder of theirs): uWSGI refuses to start, binds nothing.
        for plant in ("folder", "symlink"):
            if plant == "folder":
                folder.mkdir(mode=0o777)
                os.chmod(folder, 0o777)
                if os.geteuid() == 0:
                    os.chown(folder, 65534, 65534)
            else:
                theirs = tmp_path / "theirs"
                theirs.mkdir(mode=0o777)
                folder.symlink_to(theirs)
            proc = start_uwsgi(ini, env, log)
            assert proc.wait(30) != 0, plant
            assert "the socket's folder is not safe to use" in log.read_text(), plant
            assert not sock.exists() and not (tmp_path / "theirs" / "uwsgi.sock").exists()
            shutil.rmtree(folder) if plant == "folder" else folder.unlink()
        # Free: uWSGI makes it, 0710 (nginx's group passes), and serves on it.
        proc = start_uwsgi(ini, env, log)
        try:
            deadline = time.monotonic() + 30
            while not sock.exists():
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
            found = os.lstat(folder)
            assert found.st_uid == os.geteuid() and found.st_mode & 0o777 == 0o710
            assert status(send_packet(str(sock), get())) == 200
        finally:
            stop(proc)
    finally:
        if folder.is_symlink():
            folder.unlink()
        shutil.rmtree(folder, ignore_errors=True)


# -- landingpad serve: no uwsgi socket on a loopback port -----------------------------------

def listening_tcp_ports(root: int) -> set[int]:
    """TCP ports in LISTEN state held by ``root`` and its children."""
    pids = {root} | set(worker_pids(root))
    for pid in list(pids):
        pids |= set(worker_pids(pid))
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_serve_binds_no_uwsgi_port_any_local_user_could_reach(cli_env):
    with landingpad_serve(cli_env) as (port, proc):
        assert listening_tcp_ports(proc.pid) == {port}  # the HTTP listener, nothing else
        assert request(port, "GET", "/", "coffee.test")[0] == 200


# -- the admin area over TLS ------------------------------------------------------------------

ADMIN = "admin.test"
EMAIL, PASSWORD = "owner@example.com", "correct horse battery"


class TLSConnection(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 with the admin host's name in SNI and the certificate check."""

    def connect(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=ADMIN)


@pytest.fixture
def tls_admin_stack(cli_env, data_dir, database_url, tmp_path):
    engine = make_engine(database_url)
    with sa.orm.Session(engine) as session:
        create_user(session, EMAIL, PASSWORD)
    engine.dispose()
    cert, key = self_signed_cert(tmp_path, ADMIN)
    admin_port = free_port()
    stack = start_stack(data_dir, {**cli_env, "LANDINGPAD_ADMIN_HOST": ADMIN}, admin_host=ADMIN,
                        admin_listen=f"127.0.0.1:{admin_port}", admin_tls_certificate=cert,
                        admin_tls_key=key, cache_seconds=0)
    stack.admin_port, stack.cert, stack.cookie = admin_port, cert, ""
    yield stack
    stack.stop()


def tls_request(stack, method: str, path: str, body: str | None = None,
                headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """As a browser sends it: Host with the port, the cookie it holds, and (a POST from
    an admin page, whose policy is no-referrer) no Referer and Origin null."""
    conn = TLSConnection("127.0.0.1", stack.admin_port, timeout=10,
                         context=ssl.create_default_context(cafile=stack.cert))
    sent = {"Host": f"{ADMIN}:{stack.admin_port}"}
    if stack.cookie:
        sent["Cookie"] = stack.cookie
    if body is not None:
        sent.update({"Content-Type": "application/x-www-form-urlencoded", "Origin": "null",
                     "Sec-Fetch-Site": "same-origin"})
    conn.request(method, path, body=body, headers={**sent, **(headers or {})})
    response = conn.getresponse()
    response.data = response.read()
    conn.close()
    if cookie := response.getheader("Set-Cookie"):
        stack.cookie = cookie.split(";")[0]
    return response


def test_the_owner_logs_in_over_tls_and_gets_a_secure_cookie(tls_admin_stack):
    page = tls_request(tls_admin_stack, "GET", "/login")
    assert page.status == 200
    assert page.getheader("Strict-Transport-Security", "").startswith("max-age=")
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page.data).group(1)
    form = urlencode({"email": EMAIL, "password": PASSWORD, "csrf_token": token.decode()})
    # A client's X-Forwarded-Proto doesn't make uWSGI think the request is plain HTTP.
    response = tls_request(tls_admin_stack, "POST", "/login", form,
                           {"X-Forwarded-Proto": "http", "X-Forwarded-Ssl": "off"})
    assert response.status == 302 and response.getheader("Location") == "/", response.data[-300:]
    cookie = response.getheader("Set-Cookie")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite"} <= attributes, cookie
    assert tls_request(tls_admin_stack, "GET", "/").status == 200  # the dashboard


def test_a_browser_logs_in_over_tls_and_holds_a_secure_cookie(browser, tls_admin_stack):
    # Chromium, as the owner would: its Referer and Origin under the pages' own policy.
    base = f"https://{ADMIN}:{tls_admin_stack.admin_port}"
    context = browser.new_context(ignore_https_errors=True)  # the self-signed certificate
    page = context.new_page()
    page.goto(base + "/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/")
    [cookie] = [c for c in context.cookies() if c["domain"] == ADMIN]
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    context.close()


def test_the_tls_admin_listener_speaks_no_plain_http(tls_admin_stack):
    status_, _, body = request(tls_admin_stack.admin_port, "GET", "/login", ADMIN)
    assert status_ == 400 and b'name="password"' not in body


def test_a_client_cannot_claim_https_on_plain_http(plain_stack):
    # uWSGI would take the scheme from these headers: the app would send HSTS (and
    # Secure cookies) on a plain HTTP response.
    for header in ({"X-Forwarded-Proto": "https"}, {"X-Forwarded-Ssl": "on"}):
        status_, headers, _ = request(plain_stack.port, "GET", "/", "coffee.test",
                                      headers=header)
        assert status_ == 200 and "strict-transport-security" not in headers, header
